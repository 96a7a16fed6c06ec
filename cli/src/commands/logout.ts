import { Command } from 'commander';
import { normalizeServer, revokeToken } from '../client/core-client.js';
import { action, credentialStore } from '../command-kit.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';

export function logoutCommand(): Command {
  return new Command('logout')
    .description('revoke the stored refresh token at the core and delete the stored credentials')
    .addHelpText('after', '\nExample:\n  mortise logout')
    .action(action(async () => {
      const store = credentialStore();
      let credentials;
      try {
        credentials = store.read();
      } catch (e) {
        // Unreadable credentials cannot be revoked, but they can still be deleted.
        store.remove();
        throw new CliError(`deleted the unreadable ${store.path}; nothing could be revoked`, [(e as Error).message]);
      }
      if (!credentials) {
        out('Not logged in.');
        return;
      }
      const server = normalizeServer(credentials.server);
      let revokeError: unknown;
      try {
        await revokeToken(server, credentials.refreshToken);
      } catch (e) {
        revokeError = e;
      }
      // The local credentials go either way: that is what the user asked for.
      store.remove();
      if (revokeError) {
        throw new CliError(`deleted the stored credentials, but the refresh token could not be revoked at ${server}: ${(revokeError as Error).message}`, [
          'it stays valid until it expires unless an admin revokes the user\'s sessions',
        ]);
      }
      out(`Logged out of ${server}${credentials.username ? ` (${credentials.username})` : ''}.`);
    }));
}
