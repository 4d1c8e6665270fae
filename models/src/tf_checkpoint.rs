//! Reader for TensorFlow tensor bundles (TF 1.x/2.x `tf.train.Saver` V2 checkpoints), without
//! TensorFlow.
//!
//! A checkpoint with prefix `P` is two kinds of file:
//! - `P.index`: a LevelDB-style SSTable. Keys are tensor names (sorted); the empty key holds a
//!   `BundleHeaderProto`, every other value a `BundleEntryProto` saying where the tensor's bytes
//!   are (shard, offset, size), its dtype and shape, and the masked CRC32C of its bytes.
//! - `P.data-SSSSS-of-NNNNN`: raw tensor bytes, one file per shard.
//!
//! Layout references: LevelDB `table_format.md` (footer, block handles, restarts, trailers) and
//! TensorFlow `tensor_bundle.proto` / `tensor_shape.proto` / `types.proto`. Only what the
//! musicnn checkpoints use is supported: uncompressed blocks, little-endian bundles, unsliced
//! tensors. Every integrity check that the format offers is made: footer magic, block trailer
//! CRCs, and each tensor's masked CRC32C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// LevelDB table magic number (last 8 bytes of the `.index` file, little-endian).
const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Footer length: two block handles padded to 40 bytes, then the magic.
const FOOTER_LEN: usize = 48;
/// Block trailer: 1 byte compression type + 4 bytes masked CRC32C.
const TRAILER_LEN: usize = 5;

/// A problem reading a checkpoint. Every variant says which file or tensor it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint index is {len} bytes, too short for an SSTable footer ({FOOTER_LEN} bytes); truncated?")]
    IndexTooShort { len: usize },
    #[error("checkpoint index does not end with the SSTable magic (found {found:#018x}); not a TF checkpoint index, or truncated")]
    BadMagic { found: u64 },
    #[error("checkpoint index is corrupt: {0}")]
    Corrupt(String),
    #[error("checkpoint index block at offset {offset} fails its CRC32C check (stored {stored:#010x}, computed {computed:#010x})")]
    BlockCrc {
        offset: u64,
        stored: u32,
        computed: u32,
    },
    #[error("checkpoint index block at offset {offset} is compressed (type {kind}); only uncompressed blocks are supported")]
    Compressed { offset: u64, kind: u8 },
    #[error("checkpoint index has no header entry (empty key)")]
    MissingHeader,
    #[error("checkpoint is big-endian; only little-endian bundles are supported")]
    BigEndian,
    #[error("checkpoint has {expected} data shard(s) but {given} were supplied")]
    ShardCount { expected: usize, given: usize },
    #[error("tensor `{name}`: cannot decode its index entry: {detail}")]
    Entry { name: String, detail: String },
    #[error("tensor `{name}`: bytes {offset}..{end} lie outside data shard {shard} ({len} bytes); data file truncated?")]
    OutOfBounds {
        name: String,
        shard: usize,
        offset: u64,
        end: u64,
        len: usize,
    },
    #[error("tensor `{name}`: CRC32C mismatch (index says {expected:#010x}, data gives {actual:#010x}); data file corrupt")]
    Crc {
        name: String,
        expected: u32,
        actual: u32,
    },
    #[error("tensor `{name}` is not in the checkpoint")]
    NotFound { name: String },
    #[error("tensor `{name}` has dtype {dtype} ({}); expected float32", dtype_name(*dtype))]
    Dtype { name: String, dtype: u32 },
    #[error("tensor `{name}`: shape {shape:?} needs {expected} bytes but the entry says {size}")]
    Size {
        name: String,
        shape: Vec<usize>,
        expected: u64,
        size: u64,
    },
}

/// TensorFlow `DataType` enum values this reader names (`types.proto`).
pub mod dtype {
    /// `DT_FLOAT`: 32-bit IEEE float.
    pub const FLOAT: u32 = 1;
    /// `DT_DOUBLE`.
    pub const DOUBLE: u32 = 2;
    /// `DT_INT32`.
    pub const INT32: u32 = 3;
    /// `DT_INT64`.
    pub const INT64: u32 = 9;
}

fn dtype_name(d: u32) -> &'static str {
    match d {
        dtype::FLOAT => "DT_FLOAT",
        dtype::DOUBLE => "DT_DOUBLE",
        dtype::INT32 => "DT_INT32",
        4 => "DT_UINT8",
        7 => "DT_STRING",
        dtype::INT64 => "DT_INT64",
        10 => "DT_BOOL",
        _ => "other",
    }
}

/// LevelDB / TF CRC masking: `((crc >> 15) | (crc << 17)) + 0xa282ead8`, wrapping.
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One tensor's index entry (`BundleEntryProto`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// TensorFlow `DataType` value (see [`dtype`]).
    pub dtype: u32,
    /// Dimensions, outermost first (TF/numpy C order); empty for a scalar.
    pub shape: Vec<usize>,
    /// Data shard holding the bytes.
    pub shard_id: usize,
    /// Byte offset in the shard.
    pub offset: u64,
    /// Byte length.
    pub size: u64,
    /// Masked CRC32C of the bytes, as stored.
    pub crc32c: u32,
}

/// An `f32` tensor read from a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct TfTensor {
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// Values in C (row-major) order; `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

/// A parsed checkpoint: the index entries plus the data shards, every entry CRC-checked.
#[derive(Debug, Clone)]
pub struct TfCheckpoint {
    entries: BTreeMap<String, TensorEntry>,
    shards: Vec<Vec<u8>>,
}

impl TfCheckpoint {
    /// Opens `{prefix}.index` and its `{prefix}.data-SSSSS-of-NNNNN` shards. `prefix` may end in
    /// a path separator (musicnn's files are literally named `.index` inside their folder).
    pub fn open(prefix: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let prefix = prefix.as_ref().as_os_str().to_string_lossy().into_owned();
        let read = |p: PathBuf| {
            std::fs::read(&p).map_err(|source| CheckpointError::Io { path: p, source })
        };
        let index = read(PathBuf::from(format!("{prefix}.index")))?;
        let header = parse_index(&index)?.0;
        let shards = (0..header.num_shards)
            .map(|s| {
                read(PathBuf::from(format!(
                    "{prefix}.data-{s:05}-of-{:05}",
                    header.num_shards
                )))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_bytes(&index, shards)
    }

    /// Parses an index file's bytes and the data shards (`shards[i]` = shard `i`), checking
    /// every block CRC, every entry's bounds and every tensor's masked CRC32C.
    pub fn from_bytes(index: &[u8], shards: Vec<Vec<u8>>) -> Result<Self, CheckpointError> {
        let (header, entries) = parse_index(index)?;
        if shards.len() != header.num_shards {
            return Err(CheckpointError::ShardCount {
                expected: header.num_shards,
                given: shards.len(),
            });
        }
        for (name, e) in &entries {
            let Some(shard) = shards.get(e.shard_id) else {
                return Err(CheckpointError::Entry {
                    name: name.clone(),
                    detail: format!("shard_id {} >= num_shards {}", e.shard_id, shards.len()),
                });
            };
            let end = e.offset.checked_add(e.size).unwrap_or(u64::MAX);
            if end > shard.len() as u64 {
                return Err(CheckpointError::OutOfBounds {
                    name: name.clone(),
                    shard: e.shard_id,
                    offset: e.offset,
                    end,
                    len: shard.len(),
                });
            }
            let actual = mask_crc(crc32c::crc32c(&shard[e.offset as usize..end as usize]));
            if actual != e.crc32c {
                return Err(CheckpointError::Crc {
                    name: name.clone(),
                    expected: e.crc32c,
                    actual,
                });
            }
        }
        Ok(Self { entries, shards })
    }

    /// Tensor names in sorted order, with their entries.
    pub fn entries(&self) -> &BTreeMap<String, TensorEntry> {
        &self.entries
    }

    /// The entry for `name`.
    pub fn entry(&self, name: &str) -> Result<&TensorEntry, CheckpointError> {
        self.entries
            .get(name)
            .ok_or_else(|| CheckpointError::NotFound {
                name: name.to_string(),
            })
    }

    /// The `f32` tensor `name` (dtype must be `DT_FLOAT`, little-endian bytes).
    pub fn tensor_f32(&self, name: &str) -> Result<TfTensor, CheckpointError> {
        let e = self.entry(name)?;
        if e.dtype != dtype::FLOAT {
            return Err(CheckpointError::Dtype {
                name: name.to_string(),
                dtype: e.dtype,
            });
        }
        let n: usize = e.shape.iter().product();
        if n as u64 * 4 != e.size {
            return Err(CheckpointError::Size {
                name: name.to_string(),
                shape: e.shape.clone(),
                expected: n as u64 * 4,
                size: e.size,
            });
        }
        let bytes = &self.shards[e.shard_id][e.offset as usize..(e.offset + e.size) as usize];
        let data = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(TfTensor {
            shape: e.shape.clone(),
            data,
        })
    }
}

/// `BundleHeaderProto` fields the reader needs.
#[derive(Debug, Clone, Copy)]
struct Header {
    num_shards: usize,
}

fn corrupt(msg: impl Into<String>) -> CheckpointError {
    CheckpointError::Corrupt(msg.into())
}

/// Parses the SSTable: footer → index block → data blocks → entries.
fn parse_index(file: &[u8]) -> Result<(Header, BTreeMap<String, TensorEntry>), CheckpointError> {
    if file.len() < FOOTER_LEN {
        return Err(CheckpointError::IndexTooShort { len: file.len() });
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    let magic = u64::from_le_bytes(footer[40..48].try_into().unwrap());
    if magic != TABLE_MAGIC {
        return Err(CheckpointError::BadMagic { found: magic });
    }
    let mut r = Reader::new(&footer[..40]);
    let _metaindex = (r.varint().map_err(corrupt)?, r.varint().map_err(corrupt)?);
    let index_handle = (r.varint().map_err(corrupt)?, r.varint().map_err(corrupt)?);
    let body = &file[..file.len() - FOOTER_LEN];

    let mut header = None;
    let mut entries = BTreeMap::new();
    let index_block = read_block(body, index_handle)?;
    for (_, handle) in block_entries(index_block)? {
        let mut h = Reader::new(&handle);
        let handle = (h.varint().map_err(corrupt)?, h.varint().map_err(corrupt)?);
        for (key, value) in block_entries(read_block(body, handle)?)? {
            if key.is_empty() {
                header = Some(parse_header(&value)?);
                continue;
            }
            let name = String::from_utf8(key).map_err(|_| corrupt("tensor name is not UTF-8"))?;
            let entry = parse_entry(&value).map_err(|detail| CheckpointError::Entry {
                name: name.clone(),
                detail,
            })?;
            entries.insert(name, entry);
        }
    }
    let header = header.ok_or(CheckpointError::MissingHeader)?;
    Ok((header, entries))
}

/// The contents of the block at `(offset, size)`, after checking its trailer.
fn read_block(body: &[u8], (offset, size): (u64, u64)) -> Result<&[u8], CheckpointError> {
    let end = offset
        .checked_add(size)
        .and_then(|e| e.checked_add(TRAILER_LEN as u64))
        .filter(|&e| e <= body.len() as u64)
        .ok_or_else(|| {
            corrupt(format!(
                "block {offset}+{size} (+{TRAILER_LEN} trailer) runs past the end of the table ({} bytes); truncated?",
                body.len()
            ))
        })?;
    let (offset_u, size_u) = (offset as usize, size as usize);
    let contents = &body[offset_u..offset_u + size_u];
    let trailer = &body[offset_u + size_u..end as usize];
    let kind = trailer[0];
    let stored = u32::from_le_bytes(trailer[1..5].try_into().unwrap());
    // The CRC covers the contents and the compression-type byte.
    let computed = mask_crc(crc32c::crc32c_append(
        crc32c::crc32c(contents),
        &trailer[..1],
    ));
    if stored != computed {
        return Err(CheckpointError::BlockCrc {
            offset,
            stored,
            computed,
        });
    }
    if kind != 0 {
        return Err(CheckpointError::Compressed { offset, kind });
    }
    Ok(contents)
}

/// Decodes a block's key/value entries (prefix-compressed keys, restart array at the end).
fn block_entries(block: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, CheckpointError> {
    if block.len() < 4 {
        return Err(corrupt("block shorter than its restart count"));
    }
    let n_restarts = u32::from_le_bytes(block[block.len() - 4..].try_into().unwrap()) as usize;
    let restarts_len = n_restarts
        .checked_mul(4)
        .and_then(|n| n.checked_add(4))
        .filter(|&n| n <= block.len())
        .ok_or_else(|| corrupt(format!("block claims {n_restarts} restarts, more than fit")))?;
    let data = &block[..block.len() - restarts_len];
    let mut r = Reader::new(data);
    let mut key: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    while !r.is_empty() {
        let shared = r.varint().map_err(corrupt)? as usize;
        let unshared = r.varint().map_err(corrupt)? as usize;
        let value_len = r.varint().map_err(corrupt)? as usize;
        if shared > key.len() {
            return Err(corrupt(format!(
                "entry shares {shared} key bytes but the previous key has {}",
                key.len()
            )));
        }
        key.truncate(shared);
        key.extend_from_slice(r.bytes(unshared).map_err(corrupt)?);
        let value = r.bytes(value_len).map_err(corrupt)?.to_vec();
        out.push((key.clone(), value));
    }
    Ok(out)
}

fn parse_header(value: &[u8]) -> Result<Header, CheckpointError> {
    let mut num_shards = 1usize;
    let mut r = Reader::new(value);
    while !r.is_empty() {
        let (field, wire) = r.tag().map_err(corrupt)?;
        match (field, wire) {
            (1, 0) => num_shards = r.varint().map_err(corrupt)? as usize,
            (2, 0) => {
                if r.varint().map_err(corrupt)? != 0 {
                    return Err(CheckpointError::BigEndian);
                }
            }
            _ => r.skip(wire).map_err(corrupt)?,
        }
    }
    if num_shards == 0 {
        return Err(corrupt("header says 0 shards"));
    }
    Ok(Header { num_shards })
}

fn parse_entry(value: &[u8]) -> Result<TensorEntry, String> {
    let mut e = TensorEntry {
        dtype: 0,
        shape: Vec::new(),
        shard_id: 0,
        offset: 0,
        size: 0,
        crc32c: 0,
    };
    let mut r = Reader::new(value);
    while !r.is_empty() {
        let (field, wire) = r.tag()?;
        match (field, wire) {
            (1, 0) => e.dtype = r.varint()? as u32,
            (2, 2) => e.shape = parse_shape(r.len_delimited()?)?,
            (3, 0) => e.shard_id = r.varint()? as usize,
            (4, 0) => e.offset = r.varint()?,
            (5, 0) => e.size = r.varint()?,
            (6, 5) => e.crc32c = u32::from_le_bytes(r.bytes(4)?.try_into().unwrap()),
            (7, 2) => return Err("sliced (partitioned) tensors are not supported".into()),
            _ => r.skip(wire)?,
        }
    }
    Ok(e)
}

/// `TensorShapeProto`: repeated `dim` (field 2) each with `size` (field 1, int64).
fn parse_shape(bytes: &[u8]) -> Result<Vec<usize>, String> {
    let mut dims = Vec::new();
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let (field, wire) = r.tag()?;
        match (field, wire) {
            (2, 2) => {
                let mut d = Reader::new(r.len_delimited()?);
                let mut size = 0i64;
                while !d.is_empty() {
                    let (f, w) = d.tag()?;
                    match (f, w) {
                        (1, 0) => size = d.varint()? as i64,
                        _ => d.skip(w)?,
                    }
                }
                if size < 0 {
                    return Err(format!("dimension of unknown size ({size})"));
                }
                dims.push(size as usize);
            }
            (3, 0) => {
                if r.varint()? != 0 {
                    return Err("shape of unknown rank".into());
                }
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(dims)
}

/// A cursor over bytes with the protobuf / LevelDB primitive decoders.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| format!("varint runs past the end at byte {}", self.pos))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {}", self.pos))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "{n} bytes wanted at byte {} but only {} remain",
                    self.pos,
                    self.buf.len() - self.pos
                )
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn tag(&mut self) -> Result<(u64, u8), String> {
        let t = self.varint()?;
        Ok((t >> 3, (t & 7) as u8))
    }

    fn len_delimited(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()? as usize;
        self.bytes(n)
    }

    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.bytes(8).map(|_| ()),
            2 => self.len_delimited().map(|_| ()),
            5 => self.bytes(4).map(|_| ()),
            w => Err(format!("unsupported protobuf wire type {w}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An independent writer of the same format (the encoder side, written from the spec), so
    // the reader is tested on files whose every byte we know.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn block(entries: &[(&[u8], Vec<u8>)], restart_every: usize) -> Vec<u8> {
        let mut b = Vec::new();
        let mut restarts = Vec::new();
        let mut prev: &[u8] = &[];
        for (i, (k, v)) in entries.iter().enumerate() {
            let shared = if i % restart_every == 0 {
                restarts.push(b.len() as u32);
                0
            } else {
                prev.iter()
                    .zip(k.iter())
                    .take_while(|(a, b)| a == b)
                    .count()
            };
            varint(shared as u64, &mut b);
            varint((k.len() - shared) as u64, &mut b);
            varint(v.len() as u64, &mut b);
            b.extend_from_slice(&k[shared..]);
            b.extend_from_slice(v);
            prev = k;
        }
        for r in &restarts {
            b.extend_from_slice(&r.to_le_bytes());
        }
        b.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        b
    }

    fn with_trailer(contents: &[u8], file: &mut Vec<u8>) -> (u64, u64) {
        let off = file.len() as u64;
        file.extend_from_slice(contents);
        file.push(0);
        let crc = mask_crc(crc32c::crc32c(&file[off as usize..]));
        file.extend_from_slice(&crc.to_le_bytes());
        (off, contents.len() as u64)
    }

    fn entry_proto(shape: &[usize], offset: u64, bytes: &[u8]) -> Vec<u8> {
        let mut e = vec![0x08, 0x01]; // dtype DT_FLOAT
        let mut s = Vec::new();
        for &d in shape {
            let mut dim = vec![0x08];
            varint(d as u64, &mut dim);
            s.push(0x12);
            varint(dim.len() as u64, &mut s);
            s.extend_from_slice(&dim);
        }
        e.push(0x12);
        varint(s.len() as u64, &mut e);
        e.extend_from_slice(&s);
        if offset > 0 {
            e.push(0x20);
            varint(offset, &mut e);
        }
        e.push(0x28);
        varint(bytes.len() as u64, &mut e);
        e.push(0x35);
        e.extend_from_slice(&mask_crc(crc32c::crc32c(bytes)).to_le_bytes());
        e
    }

    /// Three tensors, two data blocks, restarts every 2 keys.
    fn sample() -> (Vec<u8>, Vec<u8>, Vec<(String, Vec<usize>, Vec<f32>)>) {
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
            ("layer/bias".into(), vec![3], vec![1.0, -2.0, 0.5]),
            (
                "layer/kernel".into(),
                vec![2, 2],
                vec![0.25, 1e-3, -7.0, 3.5],
            ),
            ("layer/kernel/Adam".into(), vec![], vec![42.0]),
        ];
        let mut data = Vec::new();
        let mut kv: Vec<(Vec<u8>, Vec<u8>)> =
            vec![(Vec::new(), vec![0x08, 0x01, 0x1a, 0x02, 0x08, 0x01])];
        for (name, shape, vals) in &tensors {
            let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
            kv.push((
                name.as_bytes().to_vec(),
                entry_proto(shape, data.len() as u64, &bytes),
            ));
            data.extend_from_slice(&bytes);
        }
        let mut file = Vec::new();
        let b1: Vec<(&[u8], Vec<u8>)> = kv[..2].iter().map(|(k, v)| (&k[..], v.clone())).collect();
        let b2: Vec<(&[u8], Vec<u8>)> = kv[2..].iter().map(|(k, v)| (&k[..], v.clone())).collect();
        let h1 = with_trailer(&block(&b1, 2), &mut file);
        let h2 = with_trailer(&block(&b2, 2), &mut file);
        let mut hv1 = Vec::new();
        varint(h1.0, &mut hv1);
        varint(h1.1, &mut hv1);
        let mut hv2 = Vec::new();
        varint(h2.0, &mut hv2);
        varint(h2.1, &mut hv2);
        let index = block(&[(b"layer/bias", hv1), (b"layer/kernel/Adam", hv2)], 1);
        let hi = with_trailer(&index, &mut file);
        let meta = with_trailer(&block(&[], 1), &mut file);
        let mut footer = Vec::new();
        for v in [meta.0, meta.1, hi.0, hi.1] {
            varint(v, &mut footer);
        }
        footer.resize(40, 0);
        footer.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        file.extend_from_slice(&footer);
        (file, data, tensors)
    }

    #[test]
    fn mask_matches_the_leveldb_definition() {
        for crc in [0u32, 1, 0xdead_beef, u32::MAX] {
            let expect = ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8);
            assert_eq!(mask_crc(crc), expect);
        }
        // The standard CRC32C check value.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn reads_every_tensor_with_its_shape() {
        let (index, data, tensors) = sample();
        let ck = TfCheckpoint::from_bytes(&index, vec![data]).unwrap();
        assert_eq!(ck.entries().len(), 3);
        for (name, shape, vals) in tensors {
            let t = ck.tensor_f32(&name).unwrap();
            assert_eq!(t.shape, shape, "{name}");
            assert_eq!(t.data, vals, "{name}");
        }
        assert!(matches!(
            ck.tensor_f32("nope"),
            Err(CheckpointError::NotFound { .. })
        ));
    }

    #[test]
    fn truncated_index_is_rejected() {
        let (index, data, _) = sample();
        for cut in [1, 10, FOOTER_LEN, index.len() - 20] {
            let err = TfCheckpoint::from_bytes(&index[..index.len() - cut], vec![data.clone()])
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    CheckpointError::BadMagic { .. } | CheckpointError::IndexTooShort { .. }
                ),
                "cut {cut}: {err}"
            );
        }
        // Footer intact but a block cut out from under it.
        let mut short = index[..20].to_vec();
        short.extend_from_slice(&index[index.len() - FOOTER_LEN..]);
        let err = TfCheckpoint::from_bytes(&short, vec![data]).unwrap_err();
        assert!(matches!(err, CheckpointError::Corrupt(_)), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn flipped_index_byte_fails_the_block_crc() {
        let (mut index, data, _) = sample();
        index[5] ^= 0x40;
        let err = TfCheckpoint::from_bytes(&index, vec![data]).unwrap_err();
        assert!(matches!(err, CheckpointError::BlockCrc { .. }), "{err}");
    }

    #[test]
    fn flipped_data_byte_names_the_tensor() {
        let (index, mut data, _) = sample();
        // layer/kernel occupies bytes 12..28.
        data[13] ^= 0x01;
        let err = TfCheckpoint::from_bytes(&index, vec![data]).unwrap_err();
        match &err {
            CheckpointError::Crc { name, .. } => assert_eq!(name, "layer/kernel"),
            other => panic!("expected a CRC error, got {other}"),
        }
        assert!(err.to_string().contains("layer/kernel"));
    }

    #[test]
    fn truncated_data_is_out_of_bounds() {
        let (index, data, _) = sample();
        let err = TfCheckpoint::from_bytes(&index, vec![data[..20].to_vec()]).unwrap_err();
        assert!(matches!(err, CheckpointError::OutOfBounds { .. }), "{err}");
        let err = TfCheckpoint::from_bytes(&index, vec![]).unwrap_err();
        assert!(matches!(err, CheckpointError::ShardCount { .. }), "{err}");
    }

    #[test]
    fn random_bytes_are_not_a_checkpoint() {
        let junk: Vec<u8> = (0..500u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let err = TfCheckpoint::from_bytes(&junk, vec![]).unwrap_err();
        assert!(matches!(err, CheckpointError::BadMagic { .. }), "{err}");
    }

    /// The real checkpoint from the musicnn wheel, when a copy is unpacked at
    /// `$CHORDER_MUSICNN_CKPT` (the folder holding `.index`); skipped otherwise.
    #[test]
    fn reads_the_musicnn_checkpoint_when_available() {
        let Ok(dir) = std::env::var("CHORDER_MUSICNN_CKPT") else {
            eprintln!("CHORDER_MUSICNN_CKPT not set; skipping");
            return;
        };
        let ck = TfCheckpoint::open(format!("{dir}/")).unwrap();
        assert_eq!(ck.entries().len(), 150);
        let k = ck.tensor_f32("conv2d/kernel").unwrap();
        assert_eq!(k.shape, vec![7, 38, 1, 204]);
        let g = ck.tensor_f32("batch_normalization/gamma").unwrap();
        assert!((g.data[0] - 0.5536).abs() < 1e-4);
    }
}
