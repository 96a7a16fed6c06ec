export { createMarketplaceServer, type MarketplaceServer, type ListeningAddress } from './server.js';
export { DEFAULT_REPOSITORY, type MarketplaceOptions, type PublishToken } from './options.js';
export { parseTokens } from './tokens-env.js';
export { SearchIndex, MATCH_SCORES, type SearchHit, type SearchQuery } from './search/search-index.js';
