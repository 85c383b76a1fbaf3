/**
 * One clear line per MQTT connection failure, with the fix. Error codes: Node's net/dns/tls errors
 * (ECONNREFUSED, ENOTFOUND, ERR_TLS_CERT_ALTNAME_INVALID, OpenSSL verify codes) and the CONNACK return codes
 * of MQTT 3.1.1 (section 3.2.2.3: 1 protocol, 2 identifier, 3 unavailable, 4 bad user name or password,
 * 5 not authorized) and their MQTT 5 reason codes (0x84..0x8A).
 */
export interface MqttProblem {
  /** Stable kind, used to log each distinct problem once. */
  kind: string;
  message: string;
  fix: string;
}

const CA_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

export function explainMqttError(err: unknown, url: string, ctx: { ca?: string | undefined; clientId: string }): MqttProblem {
  const e = err as { code?: string | number; message?: string; hostname?: string };
  const msg = e?.message ?? String(err);
  const host = safeHost(url);
  switch (e?.code) {
    case 'ECONNREFUSED':
      return { kind: 'refused', message: `MQTT broker ${url} refused the connection (nothing listens there)`, fix: 'start the broker, or fix events.mqtt.url / --mqtt; retrying with backoff' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return { kind: 'dns', message: `cannot resolve the MQTT broker host "${host}" (DNS ${e.code})`, fix: 'check the host name in events.mqtt.url and the DNS settings of the device; retrying with backoff' };
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return { kind: 'unreachable', message: `MQTT broker ${url} unreachable (${e.code})`, fix: 'check the network link and firewall between the device and the broker; events stay queued on disk' };
    case 'ECONNRESET':
    case 'EPIPE':
      return { kind: 'reset', message: `MQTT broker ${url} closed the connection (${e.code})`, fix: url.startsWith('mqtt:') ? 'if the broker port expects TLS, use an mqtts:// URL; otherwise check the broker log' : 'check the broker log (client certificate refused? connection limit?)' };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return { kind: 'tls-name', message: `the MQTT broker certificate does not name "${host}"`, fix: 'connect by a host name the certificate lists (subjectAltName), or reissue the certificate' };
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return { kind: 'tls-date', message: `the MQTT broker certificate of ${url} is ${e.code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not yet valid'}`, fix: 'renew the broker certificate, or set the device clock (NTP)' };
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return { kind: 'tls-plain', message: `TLS handshake with ${url} failed: the port does not speak TLS`, fix: 'use mqtt:// for a plain port, or the broker TLS port (usually 8883)' };
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      return { kind: 'tls-client-cert', message: `the MQTT broker ${url} refused the client certificate (${e.code})`, fix: 'set events.mqtt.tls.cert and tls.key to a certificate signed by a CA the broker trusts (cafile / require_certificate)' };
    case 4:
    case 134:
      return { kind: 'auth', message: `MQTT broker ${url} rejected the user name or password`, fix: 'check events.mqtt.username and the password in passwordFile / passwordEnv' };
    case 5:
    case 135:
      // mosquitto answers a wrong password with this code too (CONNACK 5), so both causes are named.
      return {
        kind: 'auth',
        message: `MQTT broker ${url} refused client "${ctx.clientId}" as not authorized (wrong user name or password, or not allowed)`,
        fix: 'check events.mqtt.username and the password in passwordFile / passwordEnv, and the broker ACL',
      };
    case 2:
    case 133:
      return { kind: 'client-id', message: `MQTT broker ${url} rejected the client id "${ctx.clientId}"`, fix: 'set events.mqtt.clientId to an id the broker accepts' };
    case 1:
    case 132:
      return { kind: 'protocol', message: `MQTT broker ${url} does not accept MQTT 3.1.1`, fix: 'upgrade the broker (mosquitto >= 1.3 speaks 3.1.1)' };
    case 3:
    case 136:
    case 137:
      return { kind: 'unavailable', message: `MQTT broker ${url} is unavailable (server busy)`, fix: 'check the broker; retrying with backoff' };
    default:
      break;
  }
  if (typeof e?.code === 'string' && CA_CODES.has(e.code)) {
    return {
      kind: 'tls-ca',
      message: `the MQTT broker certificate of ${url} is not trusted (${e.code})`,
      fix: ctx.ca ? `events.mqtt.tls.ca (${ctx.ca}) is not the CA that signed the broker certificate: point it at the right CA file` : 'set events.mqtt.tls.ca to the CA file that signed the broker certificate',
    };
  }
  return { kind: `other:${String(e?.code ?? msg)}`, message: `MQTT connection to ${url} failed: ${msg}`, fix: 'check the broker and events.mqtt settings; retrying with backoff' };
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}

/** The URL with any password replaced, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
