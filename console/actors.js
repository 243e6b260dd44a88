// Who did it: an audit actor (`user:<id>`, `client:<id>`, `system`) shown
// by name; user names come from the users API (cached) when the token may
// read users, and the signed-in user is known already.

import { api } from './api.js';

const usernames = new Map();

export async function actorName(ctx, actor) {
  const p = actor.principal || '';
  if (!p.startsWith('user:')) return p;
  const id = p.slice(5);
  if (id === ctx.me.sub) return ctx.me.username;
  if (!usernames.has(id)) {
    usernames.set(id, ctx.canUsers
      ? api('GET', `/api/admin/users/${encodeURIComponent(id)}`).then(({ data }) => data.username || p, () => p)
      : Promise.resolve(p));
  }
  return usernames.get(id);
}
