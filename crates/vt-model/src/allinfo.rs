//! `additional_info`: what `allinfo` adds, typed where the v2 notes document it.
//!
//! Which keys appear varies from file to file and year to year, so every field is optional
//! and every object keeps its unknown keys in `extra`. Values whose shape differs between tools
//! and files (exiftool, sigcheck, pe-debug) are kept as JSON values.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde_json::Value;

use crate::wire::wire_object;
use crate::Extra;

wire_object! {
    /// The `additional_info` object of an allinfo report.
    pub struct AdditionalInfo {
        /// libmagic's description, e.g. "PE32 executable for MS Windows (GUI) Intel 80386 32-bit".
        opt magic: String => "magic",
        /// TrID's guesses, one per line with percentages.
        opt trid: String => "trid",
        /// ExifTool's tags (values are usually strings, sometimes numbers).
        opt exiftool: Extra => "exiftool",
        /// sigcheck's output (may be an empty object).
        opt sigcheck: Extra => "sigcheck",
        /// Import hash of a PE.
        opt pe_imphash: String => "pe-imphash",
        /// PE header timestamp, unix seconds.
        opt pe_timestamp: i64 => "pe-timestamp",
        /// PE entry point address.
        opt pe_entry_point: u64 => "pe-entry-point",
        /// PE machine type (332 = i386).
        opt pe_machine_type: u64 => "pe-machine-type",
        /// PE resources: SHA-256 of each resource to its type.
        opt pe_resource_list: BTreeMap<String, String> => "pe-resource-list",
        /// PE resources: count per language.
        opt pe_resource_langs: BTreeMap<String, u64> => "pe-resource-langs",
        /// PE resources: count per type.
        opt pe_resource_types: BTreeMap<String, u64> => "pe-resource-types",
        /// PE debug directory entries.
        opt pe_debug: Vec<Value> => "pe-debug",
        /// Imported functions per DLL (the service writes `KERNEL32.dll` as `KERNEL32_!_dll`).
        opt imports: BTreeMap<String, Vec<String>> => "imports",
        /// Exported functions.
        opt exports: Vec<String> => "exports",
        /// PE sections.
        opt sections: Vec<Section> => "sections",
        /// Sandbox behaviour summary.
        opt behaviour_v1: BehaviourV1 => "behaviour-v1",
        /// SHA-256 of archives the file was found in.
        opt compressed_parents: Vec<String> => "compressed_parents",
    }
}

/// One PE section, sent as the array `[name, virtual address, virtual size, raw size,
/// entropy, md5]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Section {
    /// Section name, e.g. `.text`.
    pub name: String,
    /// Virtual address.
    pub virtual_address: u64,
    /// Virtual size.
    pub virtual_size: u64,
    /// Size on disk.
    pub raw_size: u64,
    /// Entropy as sent (a string such as `"6.33"` in the recorded answers).
    pub entropy: Value,
    /// MD5 of the section's bytes.
    pub md5: String,
    /// Any further elements of the array, kept as received.
    pub rest: Vec<Value>,
}

impl Section {
    /// The entropy as a number, whether it was sent as a string or a number.
    pub fn entropy(&self) -> Option<f64> {
        match &self.entropy {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

impl serde::Serialize for Section {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(6 + self.rest.len()))?;
        seq.serialize_element(&self.name)?;
        seq.serialize_element(&self.virtual_address)?;
        seq.serialize_element(&self.virtual_size)?;
        seq.serialize_element(&self.raw_size)?;
        seq.serialize_element(&self.entropy)?;
        seq.serialize_element(&self.md5)?;
        for value in &self.rest {
            seq.serialize_element(value)?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for Section {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SectionVisitor;
        impl<'de> Visitor<'de> for SectionVisitor {
            type Value = Section;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a section array [name, virtual address, virtual size, raw size, entropy, md5]",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Section, A::Error> {
                let missing = |i| de::Error::invalid_length(i, &self);
                let name = seq.next_element()?.ok_or_else(|| missing(0))?;
                let virtual_address = seq.next_element()?.ok_or_else(|| missing(1))?;
                let virtual_size = seq.next_element()?.ok_or_else(|| missing(2))?;
                let raw_size = seq.next_element()?.ok_or_else(|| missing(3))?;
                let entropy = seq.next_element()?.ok_or_else(|| missing(4))?;
                let md5 = seq.next_element()?.ok_or_else(|| missing(5))?;
                let mut rest = Vec::new();
                while let Some(value) = seq.next_element()? {
                    rest.push(value);
                }
                Ok(Section {
                    name,
                    virtual_address,
                    virtual_size,
                    raw_size,
                    entropy,
                    md5,
                    rest,
                })
            }
        }
        deserializer.deserialize_seq(SectionVisitor)
    }
}

wire_object! {
    /// `behaviour-v1`: the sandbox's summary of what the file did when run.
    pub struct BehaviourV1 {
        /// File operations.
        opt filesystem: FilesystemActivity => "filesystem",
        /// Network traffic.
        opt network: NetworkActivity => "network",
        /// Mutex operations.
        opt mutex: MutexActivity => "mutex",
        /// Registry operations.
        opt registry: RegistryActivity => "registry",
        /// Processes created, terminated, injected.
        opt process: ProcessActivity => "process",
        /// Windows services touched (kept as sent).
        opt service: Extra => "service",
        /// DLLs loaded at run time.
        opt runtime_dlls: Vec<Extra> => "runtime-dlls",
        /// API hooks installed.
        opt hooking: Vec<Value> => "hooking",
    }
}

wire_object! {
    /// `behaviour-v1.filesystem`.
    pub struct FilesystemActivity {
        /// Files opened.
        opt opened: Vec<PathOperation> => "opened",
        /// Files read.
        opt read: Vec<PathOperation> => "read",
        /// Files written.
        opt written: Vec<PathOperation> => "written",
        /// Files deleted.
        opt deleted: Vec<PathOperation> => "deleted",
        /// Files replaced.
        opt replaced: Vec<PathOperation> => "replaced",
        /// Files moved.
        opt moved: Vec<PathOperation> => "moved",
        /// Files copied.
        opt copied: Vec<PathOperation> => "copied",
        /// Files downloaded.
        opt downloaded: Vec<PathOperation> => "downloaded",
    }
}

wire_object! {
    /// One file operation.
    pub struct PathOperation {
        /// The file's path.
        opt path: String => "path",
        /// Whether the operation succeeded.
        opt success: bool => "success",
    }
}

wire_object! {
    /// `behaviour-v1.network`.
    pub struct NetworkActivity {
        /// UDP peers as `host:port`.
        opt udp: Vec<String> => "udp",
        /// TCP peers as `host:port`.
        opt tcp: Vec<String> => "tcp",
        /// DNS lookups.
        opt dns: Vec<DnsLookup> => "dns",
        /// HTTP requests.
        opt http: Vec<HttpRequest> => "http",
    }
}

wire_object! {
    /// One DNS lookup.
    pub struct DnsLookup {
        /// The name looked up.
        opt hostname: String => "hostname",
        /// The address it resolved to.
        opt ip: String => "ip",
    }
}

wire_object! {
    /// One HTTP request.
    pub struct HttpRequest {
        /// The URL.
        opt url: String => "url",
        /// The method, e.g. GET.
        opt method: String => "method",
        /// The User-Agent header; may be null.
        opt user_agent: Option<String> => "user-agent",
    }
}

wire_object! {
    /// `behaviour-v1.mutex`.
    pub struct MutexActivity {
        /// Mutexes opened.
        opt opened: Vec<MutexOperation> => "opened",
        /// Mutexes created.
        opt created: Vec<MutexOperation> => "created",
    }
}

wire_object! {
    /// One mutex operation.
    pub struct MutexOperation {
        /// The mutex name.
        opt mutex: String => "mutex",
        /// Whether the operation succeeded.
        opt success: bool => "success",
    }
}

wire_object! {
    /// `behaviour-v1.registry`: entries are kept as sent, since their keys vary.
    pub struct RegistryActivity {
        /// Values set.
        opt set: Vec<Extra> => "set",
        /// Keys or values deleted.
        opt deleted: Vec<Extra> => "deleted",
    }
}

wire_object! {
    /// `behaviour-v1.process`.
    pub struct ProcessActivity {
        /// Processes started.
        opt created: Vec<ProcessCreation> => "created",
        /// Processes terminated (kept as sent).
        opt terminated: Vec<Value> => "terminated",
        /// Processes injected into (kept as sent).
        opt injected: Vec<Value> => "injected",
        /// Shell commands run (kept as sent).
        opt shellcmds: Vec<Value> => "shellcmds",
        /// The process tree.
        opt tree: Vec<ProcessNode> => "tree",
    }
}

wire_object! {
    /// One process started.
    pub struct ProcessCreation {
        /// Path of the executable.
        opt proc: String => "proc",
        /// Whether it started.
        opt success: bool => "success",
    }
}

wire_object! {
    /// One node of the process tree.
    pub struct ProcessNode {
        /// Process id.
        opt pid: u64 => "pid",
        /// Process name.
        opt name: String => "name",
        /// Child processes.
        opt children: Vec<ProcessNode> => "children",
    }
}
