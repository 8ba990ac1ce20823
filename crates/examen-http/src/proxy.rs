//! Proxy selection from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (upper or lower
//! case, lower case winning as in curl).
//!
//! `https://` targets go through a `CONNECT` tunnel; `http://` targets are sent to the proxy in
//! absolute form. The proxy itself is reached over plain HTTP (`http://host:port`, optionally with
//! `user:password@`, sent as `Proxy-Authorization: Basic`); TLS to the proxy is not supported and
//! is rejected when the client is built.
//!
//! Errors never show a proxy's credentials: a proxy is named as `host:port (VARIABLE)`
//! ([`Proxy::describe`]); a failure to reach it says so ([`Error::proxy`](crate::Error::proxy));
//! unusable variables are [`Error::is_proxy_config`](crate::Error::is_proxy_config).

use std::net::IpAddr;

use http::HeaderValue;

use crate::error::{Error, Kind};

/// A proxy server to send requests through.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) authorization: Option<HeaderValue>,
    /// The credentials in every form a server might echo: as written, decoded, and the
    /// `Basic` token.
    pub(crate) credentials: Vec<String>,
    /// The variable the proxy came from (`HTTPS_PROXY`), when it came from one.
    pub(crate) var: Option<&'static str>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Proxy {
    /// Parses `http://[user:password@]host[:port]` (a bare `host:port` means `http://`).
    ///
    /// The error names the variable the value came from, never the credentials in it.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let value = value.trim();
        let rest = match value.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(Error::new(Kind::InvalidRequest).with_source(format!(
                    "proxy scheme `{scheme}` is not supported (expected `http://host:port`)"
                )))
            }
            None => value,
        };
        let authority = rest.split('/').next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport, 80).ok_or_else(|| {
            Error::new(Kind::InvalidRequest)
                .with_source("proxy address is not `http://host:port`".to_owned())
        })?;
        let mut credentials = Vec::new();
        let authorization = userinfo.map(|userinfo| {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let text = |part: &str| String::from_utf8_lossy(&percent_decode(part)).into_owned();
            let plain = format!("{}:{}", text(user), text(password));
            let token = base64(plain.as_bytes());
            let mut header = HeaderValue::try_from(format!("Basic {token}"))
                .expect("base64 is a valid header value");
            header.set_sensitive(true);
            credentials.extend([
                userinfo.to_owned(),
                plain,
                token,
                password.to_owned(),
                text(password),
            ]);
            header
        });
        credentials.retain(|c| !c.is_empty());
        // Longest first, so a redaction never leaves part of a longer form behind.
        credentials.sort_by_key(|c| std::cmp::Reverse(c.len()));
        credentials.dedup();
        Ok(Self {
            host,
            port,
            authorization,
            credentials,
            var: None,
        })
    }

    /// `host:port`, and the variable it came from: `127.0.0.1:3128 (HTTPS_PROXY)`. Never the
    /// credentials.
    pub fn describe(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.var {
            Some(var) => format!("{host}:{} ({var})", self.port),
            None => format!("{host}:{}", self.port),
        }
    }
}

/// Which requests use which proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    pub(crate) https: Option<Proxy>,
    pub(crate) http: Option<Proxy>,
    pub(crate) no_proxy: NoProxy,
}

impl ProxyConfig {
    /// No proxy at all, whatever the environment says.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the standard variables from the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the standard variables through `lookup` (for tests and for `.env`-style sources).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        // The value and the name of the variable that held it.
        let get = |lower: &'static str, upper: &'static str| {
            lookup(lower)
                .map(|value| (lower, value))
                .or_else(|| lookup(upper).map(|value| (upper, value)))
                .filter(|(_, value)| !value.trim().is_empty())
        };
        let parse = |found: Option<(&'static str, String)>| -> Result<Option<Proxy>, Error> {
            found
                .map(|(name, value)| {
                    let mut proxy = Proxy::parse(&value).map_err(|err| {
                        Error::new(Kind::ProxyConfig)
                            .with_source(format!("{name}: {}", err.source_text()))
                    })?;
                    proxy.var = Some(name);
                    Ok(proxy)
                })
                .transpose()
        };
        let all = get("all_proxy", "ALL_PROXY");
        let https = parse(get("https_proxy", "HTTPS_PROXY").or_else(|| all.clone()))?;
        let http = parse(get("http_proxy", "HTTP_PROXY").or(all))?;
        let no_proxy = NoProxy::parse(&get("no_proxy", "NO_PROXY").unwrap_or_default().1);
        Ok(Self {
            https,
            http,
            no_proxy,
        })
    }

    /// Sends `https://` requests through `proxy`.
    pub fn with_https(mut self, proxy: Proxy) -> Self {
        self.https = Some(proxy);
        self
    }

    /// Sends `http://` requests through `proxy`.
    pub fn with_http(mut self, proxy: Proxy) -> Self {
        self.http = Some(proxy);
        self
    }

    /// Bypasses the proxy for hosts matching the `NO_PROXY`-style list.
    pub fn with_no_proxy(mut self, list: &str) -> Self {
        self.no_proxy = NoProxy::parse(list);
        self
    }

    /// The proxies' credentials in every form a server might echo them (as written, decoded,
    /// the `Basic` token), for callers that redact what servers send back. Handle with care.
    pub fn credentials(&self) -> Vec<String> {
        let mut all: Vec<String> = [&self.https, &self.http]
            .into_iter()
            .flatten()
            .flat_map(|proxy| proxy.credentials.iter().cloned())
            .collect();
        all.sort_by_key(|c| std::cmp::Reverse(c.len()));
        all.dedup();
        all
    }

    /// The proxy to use for a request to `host` over `https` (or plain http), if any.
    pub fn proxy_for(&self, https: bool, host: &str) -> Option<&Proxy> {
        let proxy = if https {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }?;
        (!self.no_proxy.matches(host)).then_some(proxy)
    }
}

/// A parsed `NO_PROXY` list: `*`, domain suffixes (`example.com` and `.example.com` both cover
/// subdomains), IP addresses and CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NoProxy {
    all: bool,
    domains: Vec<String>,
    networks: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    pub(crate) fn parse(list: &str) -> Self {
        let mut parsed = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                parsed.all = true;
                continue;
            }
            if let Some((addr, prefix)) = entry.split_once('/') {
                if let (Ok(addr), Ok(prefix)) = (addr.parse::<IpAddr>(), prefix.parse::<u8>()) {
                    parsed.networks.push((addr, prefix));
                }
                continue;
            }
            let bare = entry.trim_start_matches('[');
            let bare = bare.split(']').next().unwrap_or(bare);
            if let Ok(addr) = bare.parse::<IpAddr>() {
                let bits = if addr.is_ipv4() { 32 } else { 128 };
                parsed.networks.push((addr, bits));
                continue;
            }
            // `host:port` entries: the port is ignored, as curl does.
            let domain = entry.split(':').next().unwrap_or(entry);
            let domain = domain.trim_start_matches("*.").trim_start_matches('.');
            parsed.domains.push(domain.to_ascii_lowercase());
        }
        parsed
    }

    pub(crate) fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(addr) = host.parse::<IpAddr>() {
            return self
                .networks
                .iter()
                .any(|(network, prefix)| in_network(addr, *network, *prefix));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().any(|domain| {
            host == *domain
                || (host.len() > domain.len()
                    && host.ends_with(domain.as_str())
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
        })
    }
}

fn in_network(addr: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (addr, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let prefix = u32::from(prefix.min(32));
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let prefix = u32::from(prefix.min(128));
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Splits `host[:port]` (IPv6 in brackets), defaulting the port.
pub(crate) fn split_host_port(hostport: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        (host, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (hostport, default_port),
        }
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// `%XX` escapes in `text` decoded (a `%` without two hex digits after it is kept as it is):
/// credentials in a proxy URL, the payload of a `data:` URI.
pub fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| char::from(b).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (index, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if index <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Error {
    fn source_text(&self) -> String {
        std::error::Error::source(self)
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn https_proxy_with_credentials_and_no_proxy() {
        let config = ProxyConfig::from_lookup(env(&[
            ("HTTPS_PROXY", "http://alice:s%40cret@proxy.internal:3128"),
            (
                "NO_PROXY",
                "localhost,.corp.example, 10.0.0.0/8,::1,api.direct.com:443",
            ),
        ]))
        .unwrap();
        let proxy = config.proxy_for(true, "api.openai.com").unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("proxy.internal", 3128));
        assert_eq!(
            proxy.authorization.as_ref().unwrap(),
            &format!("Basic {}", base64(b"alice:s@cret"))
        );
        assert!(!format!("{config:?}").contains("Basic"));
        assert!(!format!("{config:?}").contains("cret"));
        let credentials = config.credentials();
        for form in ["alice:s%40cret", "alice:s@cret", "s@cret", "s%40cret"] {
            assert!(
                credentials.iter().any(|c| c == form),
                "{form}: {credentials:?}"
            );
        }
        assert_eq!(proxy.describe(), "proxy.internal:3128 (HTTPS_PROXY)");
        for bypassed in [
            "localhost",
            "corp.example",
            "a.b.corp.example",
            "10.1.2.3",
            "[::1]",
            "API.DIRECT.COM",
        ] {
            assert!(config.proxy_for(true, bypassed).is_none(), "{bypassed}");
        }
        for proxied in ["notcorp.example", "11.0.0.1", "direct.com"] {
            assert!(config.proxy_for(true, proxied).is_some(), "{proxied}");
        }
        // HTTP_PROXY was not set, so plain http goes direct.
        assert!(config.proxy_for(false, "example.com").is_none());
    }

    #[test]
    fn lower_case_wins_and_all_proxy_is_the_fallback() {
        let config = ProxyConfig::from_lookup(env(&[
            ("https_proxy", "lower:1"),
            ("HTTPS_PROXY", "upper:2"),
            ("ALL_PROXY", "all:3"),
            ("no_proxy", "*"),
        ]))
        .unwrap();
        assert_eq!(config.https.as_ref().unwrap().host, "lower");
        assert_eq!(config.https.as_ref().unwrap().var, Some("https_proxy"));
        assert_eq!(config.http.as_ref().unwrap().host, "all");
        assert_eq!(config.http.as_ref().unwrap().var, Some("ALL_PROXY"));
        assert!(config.proxy_for(true, "anything").is_none());
    }

    #[test]
    fn unsupported_proxy_scheme_names_variable_not_credentials() {
        let err = ProxyConfig::from_lookup(env(&[("HTTPS_PROXY", "socks5://bob:hunter2@p:1080")]))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("HTTPS_PROXY"), "{text}");
        assert!(text.contains("socks5"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn host_port_splitting() {
        assert_eq!(split_host_port("a:1", 80), Some(("a".into(), 1)));
        assert_eq!(split_host_port("a", 80), Some(("a".into(), 80)));
        assert_eq!(split_host_port("[::1]:8", 80), Some(("::1".into(), 8)));
        assert_eq!(split_host_port("[::1]", 443), Some(("::1".into(), 443)));
        assert_eq!(split_host_port(":80", 80), None);
        assert_eq!(split_host_port("a:x", 80), None);
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
