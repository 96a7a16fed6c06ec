import { describe, expect, it } from 'vitest';
import { isNamespaceName, isObjectName } from '../src/backend/index.js';

describe('the names a backend may put into a core URL', () => {
  it('takes Kubernetes names only', () => {
    for (const ok of ['a', 'shop', 'v1.tail.example.io', 'run-abc12', 'a'.repeat(253)]) expect(isObjectName(ok), ok).toBe(true);
    for (const bad of ['', 'A', 'x/../y', 'x%2F..%2Fy', '..', '.', '-a', 'a-', 'a_b', 'a'.repeat(254)]) expect(isObjectName(bad), bad).toBe(false);
    for (const ok of ['ns', 'a-1', 'a'.repeat(63)]) expect(isNamespaceName(ok), ok).toBe(true);
    for (const bad of ['a.b', 'A', '', 'a'.repeat(64), 'x/y']) expect(isNamespaceName(bad), bad).toBe(false);
  });
});
