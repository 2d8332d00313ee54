//! The records of the evidence log and their payload layout.
//!
//! Payloads are explicit binary, big-endian; `str` and `bytes` are a u32
//! length followed by that many bytes (`str` must be UTF-8).
//!
//! ```text
//! HostEnrolled   str host_id | 32 public key | str machine_id | str host_name | u64 time_unix_ns
//! HostBatch      str host_id | bytes batch (the signed Batch bytes, exactly as received) | bytes signature
//! CollectorEvent bytes event (protobuf weir.v1.Event)
//! ```

use prost::Message;

use super::frame::Kind;

/// One leaf of the evidence log.
#[allow(clippy::large_enum_variant)] // built once per append, never stored in bulk
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Binds a host id to its key; written by the collector at enrollment.
    HostEnrolled {
        host_id: String,
        public_key: [u8; 32],
        machine_id: String,
        host_name: String,
        time_unix_ns: u64,
    },
    /// A host's signed batch, bytes exactly as received.
    HostBatch {
        host_id: String,
        signed: weir_event::SignedBatch,
    },
    /// An event the collector itself produced (integrity problem, response action...).
    CollectorEvent { event: weir_event::Event },
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::HostEnrolled { .. } => Kind::HostEnrolled,
            Record::HostBatch { .. } => Kind::HostBatch,
            Record::CollectorEvent { .. } => Kind::CollectorEvent,
        }
    }

    /// The host a record is about, if any.
    pub fn host_id(&self) -> Option<&str> {
        match self {
            Record::HostEnrolled { host_id, .. } | Record::HostBatch { host_id, .. } => Some(host_id),
            Record::CollectorEvent { .. } => None,
        }
    }

    /// Appends this record's payload to `out`.
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            Record::HostEnrolled {
                host_id,
                public_key,
                machine_id,
                host_name,
                time_unix_ns,
            } => {
                put_bytes(out, host_id.as_bytes());
                out.extend_from_slice(public_key);
                put_bytes(out, machine_id.as_bytes());
                put_bytes(out, host_name.as_bytes());
                out.extend_from_slice(&time_unix_ns.to_be_bytes());
            }
            Record::HostBatch { host_id, signed } => {
                put_bytes(out, host_id.as_bytes());
                put_bytes(out, &signed.batch);
                put_bytes(out, &signed.signature);
            }
            Record::CollectorEvent { event } => {
                put_bytes(out, &event.encode_to_vec());
            }
        }
    }

    /// Decodes a payload of a leaf kind; the error names the field.
    pub fn decode_payload(kind: Kind, payload: &[u8]) -> Result<Record, String> {
        let mut r = Reader { buf: payload, at: 0 };
        let record = match kind {
            Kind::HostEnrolled => Record::HostEnrolled {
                host_id: r.str("host_id")?,
                public_key: r.array::<32>("public_key")?,
                machine_id: r.str("machine_id")?,
                host_name: r.str("host_name")?,
                time_unix_ns: u64::from_be_bytes(r.array::<8>("time_unix_ns")?),
            },
            Kind::HostBatch => Record::HostBatch {
                host_id: r.str("host_id")?,
                signed: weir_event::SignedBatch {
                    batch: r.bytes("batch")?.to_vec(),
                    signature: r.bytes("signature")?.to_vec(),
                },
            },
            Kind::CollectorEvent => {
                let bytes = r.bytes("event")?;
                let event = weir_event::Event::decode(bytes).map_err(|e| format!("event: {e}"))?;
                Record::CollectorEvent { event }
            }
            Kind::Checkpoint => return Err("a checkpoint is not a record".into()),
        };
        r.finish()?;
        Ok(record)
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Bounds-checked reader over a payload.
pub(crate) struct Reader<'a> {
    pub buf: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| {
            format!(
                "{field}: needs {n} bytes at payload offset {}, only {} left",
                self.at,
                self.buf.len() - self.at
            )
        })?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], String> {
        Ok(self.take(N, field)?.try_into().expect("N bytes"))
    }

    pub fn bytes(&mut self, field: &str) -> Result<&'a [u8], String> {
        let len = u32::from_be_bytes(self.array::<4>(field)?) as usize;
        self.take(len, field)
    }

    pub fn str(&mut self, field: &str) -> Result<String, String> {
        let bytes = self.bytes(field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{field}: not UTF-8"))
    }

    pub fn finish(&self) -> Result<(), String> {
        if self.at != self.buf.len() {
            return Err(format!(
                "{} unexpected bytes after the last field",
                self.buf.len() - self.at
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: Record) {
        let mut payload = Vec::new();
        record.encode_payload(&mut payload);
        assert_eq!(Record::decode_payload(record.kind(), &payload).unwrap(), record);
        for cut in 0..payload.len() {
            assert!(Record::decode_payload(record.kind(), &payload[..cut]).is_err());
        }
    }

    #[test]
    fn records_round_trip_and_short_payloads_fail() {
        round_trip(Record::HostEnrolled {
            host_id: "h1".into(),
            public_key: [7; 32],
            machine_id: "m".into(),
            host_name: "web-1".into(),
            time_unix_ns: 42,
        });
        round_trip(Record::HostBatch {
            host_id: "h1".into(),
            signed: weir_event::SignedBatch {
                batch: vec![1, 2, 3],
                signature: vec![9; 64],
            },
        });
        round_trip(Record::CollectorEvent {
            event: weir_event::Event {
                seq: 3,
                host_id: "collector".into(),
                ..Default::default()
            },
        });
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_payloads_never_panic(kind in 0u8..20, bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            if let Some(kind) = Kind::from_byte(kind) {
                let _ = Record::decode_payload(kind, &bytes);
            }
        }
    }
}
