//! Where things live (config and cache dirs), the API key, and `vt init`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use vt_api::ApiKey;

use crate::cli::TierArg;
use crate::UsageError;

/// The file `vt init` writes, in the config dir.
const CONFIG_FILE: &str = "config";

/// `$VT_CONFIG_DIR`, else the user's config dir + `vt` (e.g. `~/.config/vt`).
pub(crate) fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("VT_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir()
        .map(|d| d.join("vt"))
        .ok_or_else(|| anyhow!("no config dir for this user: set VT_CONFIG_DIR"))
}

/// `$VT_CACHE_DIR`, else the user's cache dir + `vt` (e.g. `~/.cache/vt`).
pub(crate) fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("VT_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir()
        .map(|d| d.join("vt"))
        .ok_or_else(|| anyhow!("no cache dir for this user: set VT_CACHE_DIR"))
}

/// What `vt init` stored.
#[derive(Default)]
pub(crate) struct Config {
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) tier: Option<TierArg>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key)
            .field("tier", &self.tier)
            .finish()
    }
}

/// Reads the config file if there is one. Its permissions are checked like a key file's.
pub(crate) fn load_config() -> Result<Config> {
    let path = config_dir()?.join(CONFIG_FILE);
    if !path.exists() {
        return Ok(Config::default());
    }
    let text = read_secret_file(&path)?;
    let mut config = Config::default();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(UsageError::new(format!(
                "{}: line {}: expected NAME = VALUE",
                path.display(),
                number + 1
            ))
            .into());
        };
        let value = value.trim();
        match name.trim() {
            "api_key" if !value.is_empty() => config.api_key = Some(ApiKey::new(value)),
            "api_key" => {}
            "tier" => {
                config.tier = Some(match value {
                    "public" => TierArg::Public,
                    "private" => TierArg::Private,
                    _ => {
                        return Err(UsageError::new(format!(
                            "{}: line {}: tier must be public or private",
                            path.display(),
                            number + 1
                        ))
                        .into())
                    }
                })
            }
            // Unknown settings are left for newer versions.
            _ => {}
        }
    }
    Ok(config)
}

/// Where the key comes from, for messages (never the key itself).
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    File(PathBuf),
    Env,
    Config(PathBuf),
    /// The official vt-cli's `VTCLI_APIKEY`, when nothing of vt's own is set.
    VtCliEnv,
    /// The official vt-cli's `~/.vt.toml`, when nothing of vt's own is set.
    VtCliConfig(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "key file {}", p.display()),
            KeySource::Env => f.write_str("VT_API_KEY"),
            KeySource::Config(p) => write!(f, "config file {}", p.display()),
            KeySource::VtCliEnv => f.write_str("VTCLI_APIKEY (the official vt-cli's)"),
            KeySource::VtCliConfig(p) => {
                write!(f, "the official vt-cli's config {}", p.display())
            }
        }
    }
}

/// The key: `--api-key-file`, else `VT_API_KEY`, else the config file. `None` when none is
/// set anywhere.
pub(crate) fn find_key(
    key_file: Option<&Path>,
    config: &Config,
) -> Result<Option<(ApiKey, KeySource)>> {
    if let Some(path) = key_file {
        if looks_like_a_key(path) && !path.exists() {
            // `--api-key-file <the key>`: the path is the secret; never quote it.
            return Err(UsageError::new(
                "--api-key-file takes the path of a file holding the key, and what was given \
                 looks like a key itself (not quoted here); put the key in a file of mode \
                 0600, or set VT_API_KEY, or run `vt init`",
            )
            .into());
        }
        let text = read_secret_file(path)?;
        let key = ApiKey::new(text);
        if key.is_empty() {
            return Err(UsageError::new(format!("key file {} is empty", path.display())).into());
        }
        return Ok(Some((key, KeySource::File(path.to_owned()))));
    }
    if let Some(value) = std::env::var_os("VT_API_KEY") {
        let key = ApiKey::new(value.to_string_lossy());
        if !key.is_empty() {
            return Ok(Some((key, KeySource::Env)));
        }
    }
    if let Some(key) = &config.api_key {
        return Ok(Some((
            key.clone(),
            KeySource::Config(config_dir()?.join(CONFIG_FILE)),
        )));
    }
    vt_cli_key()
}

/// Whether a path given for a key file is rather a key: one word of 20 characters or more
/// (letters, digits, `-`, `_`), no folder or extension. Only asked of a path that does not
/// exist, so a real file of such a name still works.
fn looks_like_a_key(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text.len() >= 20
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The official vt-cli's key, for its users' habit: `VTCLI_APIKEY`, else `apikey` in
/// `~/.vt.toml`. Used only when nothing of vt's own is set.
fn vt_cli_key() -> Result<Option<(ApiKey, KeySource)>> {
    if let Some(value) = std::env::var_os("VTCLI_APIKEY") {
        let key = ApiKey::new(value.to_string_lossy());
        if !key.is_empty() {
            return Ok(Some((key, KeySource::VtCliEnv)));
        }
    }
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let path = Path::new(&home).join(".vt.toml");
    if !path.is_file() {
        return Ok(None);
    }
    let text = read_bounded_file(&path, SECRET_FILE_MAX, "vt-cli's config file", |_| Ok(()))?;
    let text = String::from_utf8_lossy(&text);
    // `apikey = "..."`, a TOML basic or literal string on its own line.
    let key = text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == "apikey").then(|| value.trim().trim_matches(['"', '\'']).to_owned())
    });
    Ok(key
        .map(ApiKey::new)
        .filter(|key| !key.is_empty())
        .map(|key| (key, KeySource::VtCliConfig(path))))
}

/// A warning when requests to `base_url` would carry the key in clear text over a network:
/// `http://` to a host that is not this machine (`localhost`, 127.0.0.0/8, `::1`), or
/// `http://` through `proxy` (what the transport says the request goes through), which reads
/// the tunnel whatever the destination. A local emulator over plain HTTP, reached directly,
/// is fine; anything else should be `https://`.
pub(crate) fn cleartext_warning(base_url: &str, proxy: Option<&str>) -> Option<String> {
    let url = base_url.trim();
    let rest = url
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // A user name and password, if any, come before the last `@`; they are not repeated.
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let shown = format!("http://{host_port}/");
    match proxy {
        Some(proxy) => Some(format!(
            "the base URL {shown} is plain http through the proxy {proxy}: the proxy can read \
             the API key; use https://"
        )),
        None if is_loopback(host) => None,
        None => Some(format!(
            "the base URL {shown} is plain http to {host}: the API key will travel in clear \
             text; use https://"
        )),
    }
}

/// Refuses a base URL that `vt` cannot speak to: a scheme other than `http` or `https` (an
/// `ftp://` URL used to fail every record with a transport error), or no host. `source` says
/// where the URL came from. The URL is not quoted whole: it may hold a password.
pub(crate) fn check_base_url(base_url: &str, source: &str) -> Result<(), String> {
    let uri = base_url.trim().parse::<http::Uri>().map_err(|e| {
        format!("the base URL ({source}) is not a URL: {e}; expected e.g. https://host/vtapi/v2/")
    })?;
    match uri.scheme_str() {
        Some(scheme)
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {}
        Some(scheme) => {
            return Err(format!(
                "the base URL ({source}) is {scheme}://...: vt speaks only http:// and https://"
            ))
        }
        None => {
            return Err(format!(
                "the base URL ({source}) is not absolute: it needs http:// or https:// and a \
                 host, e.g. https://host/vtapi/v2/"
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!(
            "the base URL ({source}) has no host: expected e.g. https://host/vtapi/v2/"
        ));
    }
    Ok(())
}

/// Whether a URL's host is this machine: `localhost`, 127.0.0.0/8 or `::1` (also as
/// `::ffff:127.x.y.z`).
fn is_loopback(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// The most a key file or config file may hold: a key is 64 characters.
const SECRET_FILE_MAX: u64 = 64 * 1024;

/// Reads a file holding a secret, refusing it when other users may read or change it. The
/// mode is read from the opened file, so the file checked is the file read.
fn read_secret_file(path: &Path) -> Result<String> {
    let text = read_bounded_file(path, SECRET_FILE_MAX, "a key or config file", |metadata| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "refusing {}: other users can access it (mode {mode:04o}); run: chmod 600 {}",
                    path.display(),
                    path.display()
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = metadata;
        Ok(())
    })?;
    String::from_utf8(text).map_err(|_| {
        UsageError::new(format!(
            "cannot read {}: it is not UTF-8 text",
            path.display()
        ))
        .into()
    })
}

/// Reads a file the user named (or vt's own config file) in bounded time and memory: it must
/// be a regular file or a pipe (`--api-key-file <(pass show vt)` hands the key over without
/// writing it to disk), and hold at most `max` bytes; `what` says what it should be. A device
/// (`/dev/zero` never ends), a socket or a folder is refused before a byte is read.
/// `check` sees the opened file's metadata first (the file checked is the file read).
fn read_bounded_file(
    path: &Path,
    max: u64,
    what: &str,
    check: impl FnOnce(&std::fs::Metadata) -> Result<(), String>,
) -> Result<Vec<u8>> {
    use std::io::Read;
    let cannot_read =
        |e: std::io::Error| UsageError::new(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let metadata = file.metadata().map_err(cannot_read)?;
    #[cfg(unix)]
    let is_pipe = std::os::unix::fs::FileTypeExt::is_fifo(&metadata.file_type());
    #[cfg(not(unix))]
    let is_pipe = false;
    if !metadata.is_file() && !is_pipe {
        return Err(UsageError::new(format!(
            "refusing {}: it is not a regular file (a folder, a device or a socket), so it is \
             not {what}",
            path.display()
        ))
        .into());
    }
    check(&metadata).map_err(UsageError::new)?;
    let too_big = |size: String| {
        UsageError::new(format!(
            "refusing {}: {size} bytes is not {what} (at most {max} bytes)",
            path.display()
        ))
    };
    if metadata.len() > max {
        return Err(too_big(metadata.len().to_string()).into());
    }
    // One byte more than allowed tells a pipe that goes on from one that ends in time.
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > max {
        return Err(too_big(format!("more than {max}")).into());
    }
    Ok(bytes)
}

/// `vt init`: asks for the key (hidden on a terminal; one line from a pipe) and writes the
/// config file with mode 0600, in a dir with mode 0700.
pub(crate) fn init(tier: TierArg, quiet: bool) -> Result<()> {
    let dir = config_dir()?;
    let stdin = std::io::stdin();
    let key = if stdin.is_terminal() {
        rpassword::prompt_password("VirusTotal API key (input hidden): ")
            .context("cannot read the key")?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the key from stdin")?;
        line
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(UsageError::new("no key given; nothing written").into());
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UsageError::new("the key must be one word; nothing written").into());
    }
    create_private_dir(&dir)?;
    let path = dir.join(CONFIG_FILE);
    let contents = format!(
        "# written by `vt init`; keep it private (mode 0600)\napi_key = {key}\ntier = {}\n",
        tier.as_str()
    );
    write_private_file(&path, contents.as_bytes())?;
    if !quiet {
        crate::ui::eprint_line(&format!(
            "vt: saved the key ({} tier) to {}",
            tier.as_str(),
            path.display()
        ));
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes through a temporary file created with mode 0600 and renamed into place, so the
/// secret is never readable by others, not even for a moment, and never half-written.
fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".config-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut file = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(contents)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .map_err(|e| anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_warns_unless_the_host_is_this_machine() {
        let check = |url: &str, warns: bool| {
            assert_eq!(cleartext_warning(url, None).is_some(), warns, "{url}");
        };
        check("https://www.virustotal.com/vtapi/v2/", false);
        check("HTTPS://vt.example/", false);
        check("http://127.0.0.1:8080/vtapi/v2/", false);
        check("http://127.8.9.10/", false);
        check("http://localhost:9/vtapi/v2/", false);
        check("http://LOCALHOST./", false);
        check("http://[::1]:8080/", false);
        check("http://[::ffff:127.0.0.1]/", false);
        check("http://user:pw@127.0.0.1:1/", false);
        check("http://www.virustotal.com/vtapi/v2/", true);
        check("HTTP://192.0.2.1:9/", true);
        check("http://10.0.0.1/", true);
        check("http://[2001:db8::1]:80/", true);
        check("http://localhost.example.com/", true);
        check("http://127.0.0.1@evil.example/", true);
        check("http://emulator:8080/vtapi/v2/", true);
        let text = cleartext_warning("http://192.0.2.1:9/vtapi/v2/", None).unwrap();
        assert!(text.contains("192.0.2.1"), "{text}");
        assert!(
            text.contains("clear text") && text.contains("https://"),
            "{text}"
        );
        // A password in the URL is not repeated.
        let text = cleartext_warning("http://user:hunter2@vt.example/v2/", None).unwrap();
        assert!(
            !text.contains("hunter2") && text.contains("http://vt.example/"),
            "{text}"
        );
    }

    #[test]
    fn plain_http_through_a_proxy_warns_even_to_this_machine() {
        let proxy = Some("http://proxy.example:3128");
        let text = cleartext_warning("http://127.0.0.1:8080/vtapi/v2/", proxy).unwrap();
        assert!(
            text.contains("through the proxy http://proxy.example:3128"),
            "{text}"
        );
        assert_eq!(cleartext_warning("https://vt.example/", proxy), None);
    }

    #[test]
    fn base_urls_other_than_http_or_https_with_a_host_are_refused() {
        for url in [
            "https://www.virustotal.com/vtapi/v2/",
            "http://127.0.0.1:8080/vtapi/v2/",
            "HTTPS://vt.example",
            " http://[::1]:9/ ",
        ] {
            assert_eq!(check_base_url(url, "--base-url"), Ok(()), "{url}");
        }
        let refused = |url: &str| check_base_url(url, "--base-url").unwrap_err();
        assert!(refused("ftp://vt.example/").contains("is ftp://..."));
        assert!(refused("file:///etc/passwd").contains("the base URL (--base-url)"));
        assert!(refused("vt.example/vtapi/v2/").contains("is not a URL"));
        assert!(refused("/vtapi/v2/").contains("not absolute"));
        assert!(refused("http://").contains("--base-url"));
        assert!(refused("").contains("--base-url"));
        // A password is not repeated.
        assert!(!refused("ftp://user:hunter2@vt.example/").contains("hunter2"));
    }

    #[cfg(unix)]
    #[test]
    fn key_and_config_files_must_be_regular_files_or_pipes_within_the_cap() {
        let refused = |path: &Path| {
            read_bounded_file(path, SECRET_FILE_MAX, "a key or config file", |_| Ok(()))
                .unwrap_err()
                .to_string()
        };
        // /dev/zero would be read to the cap, then refused; it is refused unread.
        let error = refused(Path::new("/dev/zero"));
        assert!(
            error.contains("/dev/zero: it is not a regular file"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(refused(dir.path()).contains("not a regular file"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'k'; SECRET_FILE_MAX as usize + 1]).unwrap();
        let error = refused(&big);
        assert!(
            error.contains("65537 bytes is not a key or config file (at most 65536 bytes)"),
            "{error}"
        );
        let key = dir.path().join("key");
        std::fs::write(&key, b"abc\n").unwrap();
        let read = read_bounded_file(&key, SECRET_FILE_MAX, "a key file", |_| Ok(())).unwrap();
        assert_eq!(read, b"abc\n");
    }

    #[test]
    fn config_debug_hides_the_key() {
        let config = Config {
            api_key: Some(ApiKey::new("0123456789abcdef0123456789abcdef")),
            tier: Some(TierArg::Private),
        };
        let text = format!("{config:?}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(text.contains("Private"), "{text}");
    }
}
