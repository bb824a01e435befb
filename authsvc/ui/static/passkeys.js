// The hosted pages' WebAuthn ceremonies, and nothing else: every other part of the pages works
// without script. A button with `data-passkey` ("add", "sign-in", "second-step") runs one:
// options from authsvc, the browser's navigator.credentials, the answer back to authsvc.

const b64 = {
  decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  },
  encode(buffer) {
    const raw = String.fromCharCode(...new Uint8Array(buffer));
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

function creationOptions(o) {
  return {
    ...o,
    challenge: b64.decode(o.challenge),
    user: { ...o.user, id: b64.decode(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: b64.decode(c.id) })),
  };
}

function requestOptions(o) {
  return {
    ...o,
    challenge: b64.decode(o.challenge),
    allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: b64.decode(c.id) })),
  };
}

function created(credential) {
  const r = credential.response;
  return {
    id: credential.id,
    rawId: b64.encode(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: b64.encode(r.clientDataJSON),
      attestationObject: b64.encode(r.attestationObject),
      transports: r.getTransports ? r.getTransports() : [],
    },
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

function asserted(credential) {
  const r = credential.response;
  return {
    id: credential.id,
    rawId: b64.encode(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: b64.encode(r.clientDataJSON),
      authenticatorData: b64.encode(r.authenticatorData),
      signature: b64.encode(r.signature),
      userHandle: r.userHandle ? b64.encode(r.userHandle) : null,
    },
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

async function post(button, path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": button.dataset.csrf },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.detail || answer.error);
  return answer;
}

const ceremonies = {
  async add(button) {
    const { publicKey } = await post(button, "/account/passkeys/options");
    const credential = await navigator.credentials.create({ publicKey: creationOptions(publicKey) });
    const name = document.getElementById("passkey-name");
    const added = await post(button, "/account/passkeys", {
      name: (name && name.value) || "Passkey",
      credential: created(credential),
    });
    if (added.recovery_codes) {
      const codes = document.getElementById("passkey-codes");
      codes.textContent = added.recovery_codes.join("\n");
      codes.hidden = false;
      return "Passkey added. Keep these recovery codes somewhere safe: they are shown once.";
    }
    window.location.reload();
    return "Passkey added.";
  },
  async "sign-in"(button) {
    const { publicKey } = await post(button, "/login/passkey/options");
    const credential = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
    await post(button, "/login/passkey", { credential: asserted(credential) });
    window.location.assign(button.dataset.next || "/ui/account");
    return "Signed in.";
  },
  async "second-step"(button) {
    const { publicKey } = await post(button, "/login/mfa/passkey/options");
    const credential = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
    await post(button, "/login/mfa", { webauthn: asserted(credential) });
    window.location.assign(button.dataset.next || "/ui/account");
    return "Signed in.";
  },
};

for (const button of document.querySelectorAll("[data-passkey]")) {
  const status = document.getElementById("passkey-status");
  if (!window.PublicKeyCredential) {
    button.disabled = true;
    if (status) status.textContent = "This browser cannot use passkeys.";
    continue;
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const said = await ceremonies[button.dataset.passkey](button);
      if (status) status.textContent = said;
    } catch (error) {
      if (status) status.textContent = `The passkey did not work: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
}
