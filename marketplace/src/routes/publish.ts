import { rm } from 'node:fs/promises';
import type Router from '@koa/router';
import {
  addToIndex,
  isWellFormedSignature,
  PACKAGES_DIR,
  PackageError,
  packageFileName,
  readPackage,
  RepositoryError,
  sha256Hex,
  verifyDigestSignature,
  writeFileAtomic,
  type ExtensionPackage,
  type IndexEntry,
  versionsOf,
} from '@mortise/extension-sdk';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { ApiError, badRequest } from '../http/api-error.js';
import { assertMayActOn } from '../http/auth.js';
import type { Services } from '../services.js';

/**
 * `POST /api/v1/repositories/<repo>/packages`: body = the .tgz. The token is checked before the
 * body is read; then size, digest (X-Mortise-Sha256), safe reading, manifest, publisher,
 * signature (X-Mortise-Signature), and finally — under the repository's lock — that the
 * version is new. A published version is never overwritten.
 */
export function registerPublishRoute(router: Router, services: Services): void {
  router.post('/api/v1/repositories/:repo/packages', async (ctx) => {
    const principal = services.authenticate(ctx);
    const repository = services.repositories.get(ctx.params.repo!);
    const body = await readBody(ctx, services.limits.maxPackageSize);

    const sha256 = sha256Hex(body);
    const declared = ctx.get('x-mortise-sha256').trim().toLowerCase();
    if (declared && declared !== sha256) {
      throw new ApiError(400, 'DigestMismatch', `the package's sha256 is ${sha256}, but X-Mortise-Sha256 says ${declared}: it was damaged or changed in transit`);
    }

    const pkg = await readUploadedPackage(body, services);
    const { manifest } = pkg;
    assertMayActOn(principal, [manifest.provider.name], manifest.name);

    const signature = checkSignature(ctx.get('x-mortise-signature').trim(), sha256, services);
    const file = packageFileName(manifest.name, manifest.version);

    const entry = await repository.store.update(async (index) => {
      // Under the lock: who owns the name is decided by the versions already published.
      assertMayActOn(principal, (versionsOf(index, manifest.name) ?? []).map((e) => e.provider.name), manifest.name);
      let next;
      try {
        next = addToIndex(index, manifest, { digest: sha256, url: `${PACKAGES_DIR}/${file}`, signature });
      } catch (error) {
        if (error instanceof RepositoryError && error.code === 'VERSION_EXISTS') throw new ApiError(409, 'VersionExists', error.message);
        throw error;
      }
      const path = repository.store.packagePath(file);
      await writeFileAtomic(path, body);
      const added = versionsOf(next, manifest.name)!.find((e) => e.version === manifest.version) as IndexEntry;
      return { index: next, result: added, undo: () => rm(path, { force: true }) };
    });

    services.logger.info({ repository: repository.store.name, extension: entry.name, version: entry.version, digest: entry.digest, publisher: principal.publisher }, 'published');
    ctx.status = 201;
    ctx.set('Location', services.publicUrl(ctx, `/api/v1/repositories/${repository.store.name}/extensions/${entry.name}`));
    ctx.body = {
      repository: repository.store.name,
      entry,
      downloadUrl: services.publicUrl(ctx, `/${repository.store.name}/${entry.urls[0]}`),
    };
  });
}

async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const length = ctx.request.length;
  if (length !== undefined && length > limit) throw tooLarge(limit);
  try {
    return await getRawBody(ctx.req, { limit, length });
  } catch (error) {
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') throw tooLarge(limit);
    if (type === 'request.size.invalid') throw badRequest('the request body is shorter or longer than its Content-Length');
    throw badRequest(`the request body could not be read: ${(error as Error).message}`);
  }
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, 'PackageTooLarge', `packages may be at most ${limit} bytes`);
}

async function readUploadedPackage(body: Buffer, services: Services): Promise<ExtensionPackage> {
  if (body.length === 0) throw badRequest('the request body is empty; send the .tgz as the body');
  try {
    return await readPackage(body, services.limits);
  } catch (error) {
    if (!(error instanceof PackageError)) throw error;
    if (error.code === 'INVALID_MANIFEST' || error.code === 'MISSING_MANIFEST') {
      throw new ApiError(422, 'InvalidManifest', error.message, error.problems.length > 0 ? { problems: error.problems } : undefined);
    }
    if (error.code === 'TOO_LARGE' || error.code === 'TOO_MANY_FILES') throw new ApiError(413, 'PackageTooLarge', error.message);
    throw new ApiError(422, 'InvalidPackage', error.message);
  }
}

/**
 * The signature to record, if any. Checked against the trusted keys when there are some;
 * without trusted keys only its form can be checked, and clients that trust keys verify it.
 */
function checkSignature(signature: string, sha256: string, services: Services): string | undefined {
  if (!signature) {
    if (services.requireSignature) throw new ApiError(422, 'SignatureRequired', 'this repository only accepts signed packages: send X-Mortise-Signature');
    return undefined;
  }
  if (!isWellFormedSignature(signature)) {
    throw new ApiError(422, 'SignatureInvalid', 'X-Mortise-Signature must be the base64 ed25519 signature from `mortise-ext pack --sign`');
  }
  if (services.trustedKeys.length > 0 && !verifyDigestSignature(sha256, signature, services.trustedKeys)) {
    throw new ApiError(422, 'SignatureInvalid', 'the signature does not match this package or was not made by a trusted key');
  }
  return signature;
}
