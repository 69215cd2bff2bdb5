//! How a JSON object becomes a typed struct without losing a key, and without
//! `#[serde(flatten)]`.
//!
//! `flatten` buffers every entry of the object into serde's private `Content` tree before it
//! hands it to the struct, which costs more than decoding into a `serde_json::Value`. The
//! [`wire_object!`] macro instead writes one `visit_map` per struct: known keys are matched as
//! borrowed `&str` (no allocation) and decoded straight into their typed field, and any other key
//! goes, with its value, into the struct's `extra` map. Encoding writes the known fields back
//! under their wire names, then `extra`, so `encode(decode(body)) == body` as JSON values.

use std::borrow::Cow;
use std::fmt;

/// The keys of an object that the model does not know, with their values, as received.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// A map key, borrowed from the input when it has no escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// An object that lacked a required field: the field's name, and everything it did have
/// (typed fields re-encoded, unknown keys as they were) so that nothing is lost. Part of the
/// [`Report`](crate::Report) decoding hook, not for use outside the crate.
#[doc(hidden)]
#[derive(Debug)]
pub struct Partial {
    pub(crate) missing: &'static str,
    pub(crate) fields: Extra,
}

/// Defines a struct decoded from a JSON object whose unknown keys land in `extra`.
///
/// Each field is `req` (must be present; its Rust type is the given type) or `opt` (may be
/// absent; its Rust type is `Option` of the given type, `None` when absent). A field that the
/// service may send as `null` is declared `opt name: Option<T>`, so that absent (`None`) and
/// null (`Some(None)`) stay apart and re-encode as they came.
macro_rules! wire_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $kind:ident $field:ident : $ty:ty => $wire:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $crate::wire::field_type!($kind $ty),
            )*
            /// Every key of this object that the model does not know, kept as received.
            pub extra: $crate::Extra,
        }

        impl $name {
            /// Decodes the entries of an object; `Ok(Err(..))` when a required field is absent.
            #[allow(dead_code)]
            pub(crate) fn from_map<'de, A: serde::de::MapAccess<'de>>(
                mut map: A,
            ) -> Result<Result<Self, $crate::wire::Partial>, A::Error> {
                $( let mut $field: Option<$ty> = None; )*
                let mut extra = $crate::Extra::new();
                while let Some(key) = map.next_key::<$crate::wire::Key<'de>>()? {
                    match &*key.0 {
                        $( $wire => $field = Some(map.next_value()?), )*
                        _ => {
                            let value = map.next_value()?;
                            extra.insert(key.0.into_owned(), value);
                        }
                    }
                }
                let missing: Option<&'static str> = None
                    $( .or($crate::wire::missing_if_absent!($kind $field, $wire)) )*;
                if let Some(missing) = missing {
                    let mut fields = $crate::Extra::new();
                    $(
                        if let Some(value) = $field {
                            let value = serde_json::to_value(value)
                                .map_err(<A::Error as serde::de::Error>::custom)?;
                            fields.insert($wire.to_owned(), value);
                        }
                    )*
                    fields.extend(extra);
                    return Ok(Err($crate::wire::Partial { missing, fields }));
                }
                Ok(Ok($name {
                    $( $field: $crate::wire::take_field!($kind $field, $wire, A), )*
                    extra,
                }))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$name, A::Error> {
                        $name::from_map(map)?.map_err(|partial| {
                            <A::Error as serde::de::Error>::missing_field(partial.missing)
                        })
                    }
                }
                deserializer.deserialize_map(ObjectVisitor)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let len = self.extra.len()
                    $( + $crate::wire::count_field!($kind &self.$field) )*;
                let mut map = serializer.serialize_map(Some(len))?;
                $( $crate::wire::serialize_field!($kind map, &self.$field, $wire); )*
                for (key, value) in &self.extra {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    };
}

macro_rules! field_type {
    (req $ty:ty) => { $ty };
    (opt $ty:ty) => { Option<$ty> };
}

macro_rules! missing_if_absent {
    (req $field:ident, $wire:literal) => {
        if $field.is_none() {
            Some($wire)
        } else {
            None
        }
    };
    (opt $field:ident, $wire:literal) => {
        None
    };
}

macro_rules! take_field {
    (req $field:ident, $wire:literal, $access:ident) => {
        $field.ok_or_else(|| <$access::Error as serde::de::Error>::missing_field($wire))?
    };
    (opt $field:ident, $wire:literal, $access:ident) => {
        $field
    };
}

macro_rules! count_field {
    (req $value:expr) => {
        1
    };
    (opt $value:expr) => {
        usize::from($value.is_some())
    };
}

macro_rules! serialize_field {
    (req $map:ident, $value:expr, $wire:literal) => {
        $map.serialize_entry($wire, $value)?;
    };
    (opt $map:ident, $value:expr, $wire:literal) => {
        if let Some(value) = $value {
            $map.serialize_entry($wire, value)?;
        }
    };
}

pub(crate) use {
    count_field, field_type, missing_if_absent, serialize_field, take_field, wire_object,
};
