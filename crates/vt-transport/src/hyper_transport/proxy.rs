//! Which proxy, if any, a destination goes through.

use hyper_util::client::proxy::matcher::Matcher;

/// The matcher for an explicit proxy: every destination goes through `proxy` except those
/// matched by `no_proxy` (the `NO_PROXY` syntax).
pub(crate) fn explicit(proxy: &http::Uri, no_proxy: Option<&str>) -> Matcher {
    Matcher::builder()
        .all(proxy.to_string())
        .no(no_proxy.unwrap_or_default())
        .build()
}

/// The matcher described by proxy variables, read through `var` (so tests need not touch the
/// process environment). Upper-case names win over lower-case ones, empty values count as
/// unset, as curl does. Under CGI (`REQUEST_METHOD` set) `HTTP_PROXY` may come from a request
/// header ("httpoxy"), so no variable is trusted there.
pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Matcher> {
    if var("REQUEST_METHOD").is_some() {
        return None;
    }
    let first = |names: [&str; 2]| {
        names
            .into_iter()
            .filter_map(&var)
            .find(|value| !value.trim().is_empty())
            .unwrap_or_default()
    };
    let all = first(["ALL_PROXY", "all_proxy"]);
    let http = first(["HTTP_PROXY", "http_proxy"]);
    let https = first(["HTTPS_PROXY", "https_proxy"]);
    if all.is_empty() && http.is_empty() && https.is_empty() {
        return None;
    }
    Some(
        Matcher::builder()
            .all(all)
            .http(http)
            .https(https)
            .no(first(["NO_PROXY", "no_proxy"]))
            .build(),
    )
}

/// The process environment, for [`from_vars`].
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `scheme://host:port` of a proxy URI, without any user name or password.
pub(crate) fn redacted(uri: &http::Uri) -> String {
    let host = uri
        .authority()
        .map(|a| a.as_str().rsplit('@').next().unwrap_or_default())
        .unwrap_or_default();
    match uri.scheme_str() {
        Some(scheme) => format!("{scheme}://{host}"),
        None => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn matcher(vars: &[(&str, &str)]) -> Option<Matcher> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_vars(|name| vars.get(name).cloned())
    }

    /// The proxy `dst` goes through under `m`, as `host:port`, or "direct".
    fn route(m: &Option<Matcher>, dst: &str) -> String {
        let dst: http::Uri = dst.parse().unwrap();
        match m.as_ref().and_then(|m| m.intercept(&dst)) {
            Some(i) => i.uri().authority().unwrap().to_string(),
            None => "direct".to_owned(),
        }
    }

    #[test]
    fn no_variables_means_no_proxy() {
        assert!(matcher(&[]).is_none());
        assert!(matcher(&[("HTTPS_PROXY", ""), ("NO_PROXY", "x")]).is_none());
    }

    #[test]
    fn https_and_http_proxies_apply_to_their_schemes() {
        let m = matcher(&[
            ("HTTPS_PROXY", "http://secure.proxy:3128"),
            ("HTTP_PROXY", "http://plain.proxy:8080"),
        ]);
        assert_eq!(
            route(&m, "https://www.virustotal.com/vtapi/v2/"),
            "secure.proxy:3128"
        );
        assert_eq!(route(&m, "http://127.0.0.1:9000/"), "plain.proxy:8080");
    }

    #[test]
    fn only_https_proxy_leaves_http_direct() {
        let m = matcher(&[("https_proxy", "proxy:3128")]);
        assert_eq!(route(&m, "https://www.virustotal.com/"), "proxy:3128");
        assert_eq!(route(&m, "http://www.virustotal.com/"), "direct");
    }

    #[test]
    fn upper_case_wins_and_empty_counts_as_unset() {
        let m = matcher(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ]);
        assert_eq!(route(&m, "https://a.example/"), "upper:1");
        let m = matcher(&[("HTTPS_PROXY", " "), ("https_proxy", "http://lower:2")]);
        assert_eq!(route(&m, "https://a.example/"), "lower:2");
    }

    #[test]
    fn all_proxy_is_the_fallback() {
        let m = matcher(&[
            ("ALL_PROXY", "http://all:1"),
            ("HTTP_PROXY", "http://plain:2"),
        ]);
        assert_eq!(route(&m, "https://a.example/"), "all:1");
        assert_eq!(route(&m, "http://a.example/"), "plain:2");
    }

    #[test]
    fn no_proxy_matches_domains_subdomains_and_networks() {
        let m = matcher(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("HTTP_PROXY", "http://proxy:3128"),
            (
                "NO_PROXY",
                "localhost, .corp.example,virustotal.com,10.0.0.0/8,::1",
            ),
        ]);
        assert_eq!(route(&m, "http://localhost:8080/"), "direct");
        assert_eq!(route(&m, "https://build.corp.example/"), "direct");
        assert_eq!(route(&m, "https://www.virustotal.com/"), "direct");
        assert_eq!(route(&m, "https://virustotal.com/"), "direct");
        assert_eq!(route(&m, "http://10.1.2.3/"), "direct");
        assert_eq!(route(&m, "http://[::1]:80/"), "direct");
        assert_eq!(route(&m, "https://notvirustotal.com/"), "proxy:3128");
        assert_eq!(route(&m, "http://11.0.0.1/"), "proxy:3128");
    }

    #[test]
    fn no_proxy_star_disables_the_proxy() {
        let m = matcher(&[("HTTPS_PROXY", "http://proxy:3128"), ("no_proxy", "*")]);
        assert_eq!(route(&m, "https://www.virustotal.com/"), "direct");
    }

    #[test]
    fn cgi_ignores_proxy_variables() {
        let m = matcher(&[("HTTP_PROXY", "http://evil:1"), ("REQUEST_METHOD", "GET")]);
        assert!(m.is_none());
    }

    #[test]
    fn credentials_become_basic_auth_and_are_redacted() {
        let m = matcher(&[("HTTPS_PROXY", "http://user:p%40ss@proxy:3128")]).unwrap();
        let i = m.intercept(&"https://a.example/".parse().unwrap()).unwrap();
        assert_eq!(i.uri().authority().unwrap().as_str(), "proxy:3128");
        // "user:p@ss" in base64.
        assert_eq!(i.basic_auth().unwrap(), "Basic dXNlcjpwQHNz");
        let uri: http::Uri = "http://user:secret@proxy:3128".parse().unwrap();
        assert_eq!(redacted(&uri), "http://proxy:3128");
    }

    #[test]
    fn an_explicit_proxy_takes_everything_but_its_no_proxy_list() {
        let proxy: http::Uri = "http://proxy:3128".parse().unwrap();
        let m = Some(explicit(&proxy, Some("internal.example")));
        assert_eq!(route(&m, "https://www.virustotal.com/"), "proxy:3128");
        assert_eq!(route(&m, "http://127.0.0.1:9/"), "proxy:3128");
        assert_eq!(route(&m, "http://api.internal.example/"), "direct");
    }
}
