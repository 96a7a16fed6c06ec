import type { ManifestProblem } from '../types.js';
import { arrayItems, isRecord } from '../../util/guards.js';
import { jsonPointer } from '../../util/json-pointer.js';

/**
 * RoleTemplates hold resource rules over named API groups: no URLs (which only global roles
 * may hold) and no group wildcard (a template must say what it grants). Whether each group is
 * the extension's own is checked by the installer, which reads the CRDs. Names are unique and
 * "proxy-access" is the core's own template of the extension; `dependsOn` names templates of the
 * same manifest.
 */
export function checkRoleTemplates(manifest: Record<string, unknown>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const seen = new Map<string, number>();
  arrayItems(manifest.roleTemplates).forEach((template, i) => {
    if (!isRecord(template)) return;
    if (typeof template.name === 'string') {
      const first = seen.get(template.name);
      if (template.name === 'proxy-access') problems.push({ path: jsonPointer('roleTemplates', i, 'name'), message: 'is reserved for the core\'s template of the extension\'s proxy paths' });
      else if (first !== undefined) problems.push({ path: jsonPointer('roleTemplates', i, 'name'), message: `duplicates the name of /roleTemplates/${first}` });
      else seen.set(template.name, i);
    }
    arrayItems(template.dependsOn).forEach((dep, j) => {
      const names = arrayItems(manifest.roleTemplates).map((t) => (isRecord(t) ? t.name : undefined));
      if (dep === template.name) problems.push({ path: jsonPointer('roleTemplates', i, 'dependsOn', j), message: 'a template cannot depend on itself' });
      else if (typeof dep === 'string' && !names.includes(dep)) problems.push({ path: jsonPointer('roleTemplates', i, 'dependsOn', j), message: `names no template of this manifest ("${dep}")` });
    });
    arrayItems(template.rules).forEach((rule, j) => {
      if (!isRecord(rule)) return;
      const path = jsonPointer('roleTemplates', i, 'rules', j);
      if (Array.isArray(rule.nonResourceURLs) && rule.nonResourceURLs.length > 0) problems.push({ path: `${path}/nonResourceURLs`, message: 'a RoleTemplate of an extension holds resource rules only' });
      if (!Array.isArray(rule.apiGroups) || rule.apiGroups.length === 0) problems.push({ path: `${path}/apiGroups`, message: 'is required: name the API groups of the extension\'s resources' });
      else if (rule.apiGroups.includes('*')) problems.push({ path: `${path}/apiGroups`, message: 'must name groups, not "*"' });
      if (!Array.isArray(rule.resources) || rule.resources.length === 0) problems.push({ path: `${path}/resources`, message: 'is required' });
    });
  });
  return problems;
}
