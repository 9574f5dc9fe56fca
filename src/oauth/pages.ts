import { html, safeHref, type SafeHtml } from "./html.js";

/** The stylesheet of every page (served at /oauth2/assets/style.css, so the CSP needs no inline styles). */
export const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1d22; --bg: #f4f5f7; --card: #fff; --muted: #5c6370; --accent: #0b6e4f; --danger: #b3261e; --border: #d5d8de; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8eaed; --bg: #15171a; --card: #1f2226; --muted: #a0a6b0; --accent: #3fbf8f; --danger: #ff6b60; --border: #343a42; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 34rem; margin: 2rem auto; padding: 0 1rem; }
main.wide { max-width: 52rem; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 10px; padding: 1.5rem; margin-bottom: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 1rem; }
h2 { font-size: 1.1rem; margin: 0 0 .75rem; }
p { margin: .5rem 0; }
.muted { color: var(--muted); font-size: .9rem; }
label { display: block; margin: .75rem 0 .25rem; font-weight: 600; }
input[type=text], input[type=password] { width: 100%; padding: .6rem .7rem; font-size: 1rem; border: 1px solid var(--border); border-radius: 6px; background: var(--bg); color: var(--fg); }
.check { display: flex; gap: .5rem; align-items: center; font-weight: normal; }
button { font: inherit; padding: .55rem 1.1rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; margin-top: 1rem; }
button.secondary { background: transparent; color: var(--fg); border-color: var(--border); }
button.danger { background: var(--danger); border-color: var(--danger); }
.actions { display: flex; gap: .75rem; flex-wrap: wrap; }
.error { border-left: 4px solid var(--danger); padding: .5rem .75rem; background: color-mix(in srgb, var(--danger) 10%, transparent); border-radius: 4px; }
.notice { border-left: 4px solid var(--accent); padding: .5rem .75rem; background: color-mix(in srgb, var(--accent) 10%, transparent); border-radius: 4px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: .5rem .25rem; border-bottom: 1px solid var(--border); vertical-align: top; }
td form button { margin-top: 0; padding: .3rem .7rem; }
code, .code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
.code { font-size: 1.6rem; letter-spacing: .15em; }
ul.scopes { padding-left: 1.2rem; }
tr.highlight { background: color-mix(in srgb, var(--accent) 12%, transparent); }
`;

export interface PageOptions {
  title: string;
  wide?: boolean;
}

export function layout(opts: PageOptions, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${opts.title}</title>
<link rel="stylesheet" href="/oauth2/assets/style.css">
</head>
<body>
<main class="${opts.wide ? "wide" : ""}">
${body}
</main>
</body>
</html>
`.value;
}

const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;
const errorBox = (error: string | undefined) => (error ? html`<p class="error" role="alert">${error}</p>` : "");
const noticeBox = (notice: string | undefined) => (notice ? html`<p class="notice" role="status">${notice}</p>` : "");

export function errorPage(serverName: string, message: string): string {
  return layout(
    { title: "Something went wrong" },
    html`<div class="card"><h1>Something went wrong</h1><p class="error">${message}</p>
<p class="muted">${serverName}</p></div>`,
  );
}

export function loginPage(o: { serverName: string; csrf: string; then: string; username?: string; error?: string; registerHref?: string }): string {
  return layout(
    { title: `Sign in to ${o.serverName}` },
    html`<div class="card">
<h1>Sign in to ${o.serverName}</h1>
${errorBox(o.error)}
<form method="post" action="/oauth2/login">
${csrfField(o.csrf)}
<input type="hidden" name="then" value="${o.then}">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${o.username ?? ""}" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
${o.registerHref ? html`<p class="muted">No account yet? <a href="${o.registerHref}">Create one</a>.</p>` : ""}
</div>`,
  );
}

export function registerPage(o: { serverName: string; csrf: string; then: string; username?: string; error?: string; loginHref: string }): string {
  return layout(
    { title: `Create an account on ${o.serverName}` },
    html`<div class="card">
<h1>Create an account on ${o.serverName}</h1>
${errorBox(o.error)}
<form method="post" action="/oauth2/signup">
${csrfField(o.csrf)}
<input type="hidden" name="then" value="${o.then}">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${o.username ?? ""}" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="new-password" required>
<label for="password_confirm">Repeat the password</label>
<input type="password" id="password_confirm" name="password_confirm" autocomplete="new-password" required>
<button type="submit">Create account</button>
</form>
<p class="muted">Have an account? <a href="${o.loginHref}">Sign in</a>.</p>
</div>`,
  );
}

export interface ClientView {
  name: string;
  clientUri: string;
  tosUri?: string | undefined;
  policyUri?: string | undefined;
}

function clientLinks(c: ClientView): SafeHtml {
  const link = (href: string | undefined, text: string) => {
    const safe = safeHref(href);
    return safe ? html` · <a href="${safe}" rel="noopener noreferrer" target="_blank">${text}</a>` : "";
  };
  const home = safeHref(c.clientUri);
  return html`<p class="muted">${home ? html`<a href="${home}" rel="noopener noreferrer" target="_blank">${new URL(home).host}</a>` : ""}${link(c.tosUri, "Terms")}${link(c.policyUri, "Privacy policy")}</p>`;
}

function grantList(deviceId: string): SafeHtml {
  return html`<ul class="scopes">
<li>Full access to your account: read and send messages, manage rooms, your profile and settings</li>
<li>Sign in as a new session (device <code>${deviceId}</code>)</li>
</ul>`;
}

function signedInAs(userId: string, csrf: string, then: string): SafeHtml {
  return html`<form method="post" action="/oauth2/logout" class="muted">${csrfField(csrf)}<input type="hidden" name="then" value="${then}">
Signed in as <strong>${userId}</strong>. <button type="submit" class="secondary">Use another account</button></form>`;
}

export function consentPage(o: { serverName: string; csrf: string; userId: string; client: ClientView; deviceId: string; query: string; redirectHost: string; self: string }): string {
  return layout(
    { title: `Allow ${o.client.name}?` },
    html`<div class="card">
<h1>${o.client.name} wants to access your account</h1>
${clientLinks(o.client)}
<p>If you allow it, <strong>${o.client.name}</strong> gets:</p>
${grantList(o.deviceId)}
<p class="muted">You will be sent back to <code>${o.redirectHost}</code>. Only continue if you started this sign-in.</p>
<form method="post" action="/oauth2/consent">
${csrfField(o.csrf)}
<input type="hidden" name="q" value="${o.query}">
<div class="actions">
<button type="submit" name="action" value="allow">Allow</button>
<button type="submit" name="action" value="deny" class="secondary">Deny</button>
</div>
</form>
</div>
<div class="card">${signedInAs(o.userId, o.csrf, o.self)}</div>`,
  );
}

export function deviceCodePage(o: { serverName: string; csrf: string; userId: string; userCode?: string; error?: string }): string {
  return layout(
    { title: "Link a device" },
    html`<div class="card">
<h1>Link a device</h1>
${errorBox(o.error)}
<p>Enter the code shown on the device you want to sign in.</p>
<form method="get" action="/oauth2/link">
<label for="user_code">Code</label>
<input type="text" id="user_code" name="user_code" value="${o.userCode ?? ""}" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus>
<button type="submit">Continue</button>
</form>
</div>
<div class="card">${signedInAs(o.userId, o.csrf, "/oauth2/link")}</div>`,
  );
}

export function deviceConsentPage(o: { serverName: string; csrf: string; userId: string; client: ClientView; deviceId: string; userCode: string }): string {
  return layout(
    { title: `Allow ${o.client.name}?` },
    html`<div class="card">
<h1>Sign in ${o.client.name} on another device?</h1>
${clientLinks(o.client)}
<p>The device showing the code <span class="code">${o.userCode}</span> asks for:</p>
${grantList(o.deviceId)}
<p class="muted">Only allow this if you can see this code on a device you are signing in right now.</p>
<form method="post" action="/oauth2/link">
${csrfField(o.csrf)}
<input type="hidden" name="user_code" value="${o.userCode}">
<div class="actions">
<button type="submit" name="action" value="allow">Allow</button>
<button type="submit" name="action" value="deny" class="secondary">Deny</button>
</div>
</form>
</div>
<div class="card">${signedInAs(o.userId, o.csrf, `/oauth2/link?user_code=${encodeURIComponent(o.userCode)}`)}</div>`,
  );
}

export function deviceDonePage(o: { approved: boolean }): string {
  return layout(
    { title: o.approved ? "Device signed in" : "Request declined" },
    html`<div class="card"><h1>${o.approved ? "Device signed in" : "Request declined"}</h1>
<p>${o.approved ? "You can go back to your device now." : "The device was not signed in."}</p>
<p><a href="/account/">Manage your account</a></p></div>`,
  );
}

export interface DeviceView {
  deviceId: string;
  displayName: string | null;
  clientName: string | undefined;
  lastSeenTs: number | null;
  lastSeenIp: string | null;
  createdTs: number;
}

const when = (ts: number | null) => (ts === null ? "never" : new Date(ts).toISOString().replace("T", " ").slice(0, 16) + " UTC");

export function accountPage(o: {
  serverName: string;
  csrf: string;
  userId: string;
  displayName: string | null;
  devices: DeviceView[];
  notice?: string | undefined;
  error?: string | undefined;
  focusDeviceId?: string | undefined;
  confirmDelete?: boolean;
  confirmDeactivate?: boolean;
  crossSigningReset?: boolean;
}): string {
  const focus = o.devices.find((d) => d.deviceId === o.focusDeviceId);
  const deleteForm = (d: DeviceView, label: string, cls = "secondary") =>
    html`<form method="post" action="/account/devices/sign-out">${csrfField(o.csrf)}<input type="hidden" name="device_id" value="${d.deviceId}"><button type="submit" class="${cls}">${label}</button></form>`;
  const rows = o.devices.map(
    (d) => html`<tr class="${d.deviceId === o.focusDeviceId ? "highlight" : ""}" id="device-${d.deviceId}">
<td><strong>${d.displayName ?? d.clientName ?? d.deviceId}</strong><br><code class="muted">${d.deviceId}</code>${d.clientName ? html`<br><span class="muted">via ${d.clientName}</span>` : ""}</td>
<td class="muted">Last seen ${when(d.lastSeenTs)}${d.lastSeenIp ? html`<br>${d.lastSeenIp}` : ""}</td>
<td>${deleteForm(d, "Sign out")}</td></tr>`,
  );
  const focusBox = focus
    ? html`<div class="card"><h2>${o.confirmDelete ? "Sign out this device?" : "Device"}</h2>
<p><strong>${focus.displayName ?? focus.deviceId}</strong> (<code>${focus.deviceId}</code>)${focus.clientName ? html`, signed in through ${focus.clientName}` : ""}.</p>
<p class="muted">Signed in ${when(focus.createdTs)}; last seen ${when(focus.lastSeenTs)}${focus.lastSeenIp ? html` from ${focus.lastSeenIp}` : ""}.</p>
${o.confirmDelete ? deleteForm(focus, "Sign out this device", "danger") : ""}</div>`
    : o.focusDeviceId !== undefined
      ? html`<p class="error">There is no device <code>${o.focusDeviceId}</code> on your account.</p>`
      : "";
  return layout(
    { title: "Your account", wide: true },
    html`<div class="card"><h1>Your account</h1>
<form method="post" action="/oauth2/logout" class="muted">${csrfField(o.csrf)}<input type="hidden" name="then" value="/account/">Signed in as <strong>${o.userId}</strong> on ${o.serverName}. <button type="submit" class="secondary">Sign out of this page</button></form>
${noticeBox(o.notice)}${errorBox(o.error)}</div>
${focusBox}
${o.crossSigningReset ? html`<div class="card" id="cross-signing"><h2>Reset your cryptographic identity?</h2>
<p>Your app asks to replace your cross-signing keys. Do this only if you lost access to your other devices and your recovery key: your other sessions will have to be verified again.</p>
<form method="post" action="/account/cross-signing-reset">${csrfField(o.csrf)}<button type="submit" class="danger">Allow the reset for 10 minutes</button></form></div>` : ""}
<div class="card" id="devices"><h2>Devices and sessions</h2>
${o.devices.length ? html`<table><thead><tr><th>Device</th><th>Activity</th><th></th></tr></thead><tbody>${rows}</tbody></table>` : html`<p class="muted">No devices are signed in.</p>`}
<form method="post" action="/account/sign-out-everywhere">${csrfField(o.csrf)}<button type="submit" class="danger">Sign out everywhere</button></form>
</div>
<div class="card" id="profile"><h2>Profile</h2>
<form method="post" action="/account/profile">${csrfField(o.csrf)}
<label for="displayname">Display name</label><input type="text" id="displayname" name="displayname" value="${o.displayName ?? ""}" autocomplete="nickname">
<button type="submit">Save</button>
</form></div>
<div class="card" id="password"><h2>Change password</h2>
<form method="post" action="/account/password">${csrfField(o.csrf)}
<label for="current_password">Current password</label><input type="password" id="current_password" name="current_password" autocomplete="current-password" required>
<label for="new_password">New password</label><input type="password" id="new_password" name="new_password" autocomplete="new-password" required>
<label for="new_password_confirm">Repeat the new password</label><input type="password" id="new_password_confirm" name="new_password_confirm" autocomplete="new-password" required>
<label class="check"><input type="checkbox" name="logout_devices" value="1" checked> Sign out all devices</label>
<button type="submit">Change password</button>
</form></div>
<div class="card" id="deactivate"><h2>Deactivate account</h2>
${o.confirmDeactivate ? html`<p class="error">You asked to deactivate your account. This cannot be undone.</p>` : ""}
<p class="muted">Deactivating signs out every device, removes your password and makes you leave all rooms. It cannot be undone.</p>
<form method="post" action="/account/deactivate">${csrfField(o.csrf)}
<label for="deactivate_password">Password</label><input type="password" id="deactivate_password" name="password" autocomplete="current-password" required>
<label class="check"><input type="checkbox" name="erase" value="1"> Also erase my profile (name and avatar)</label>
<button type="submit" class="danger">Deactivate account</button>
</form></div>`,
  );
}
