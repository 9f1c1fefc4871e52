//! Reading and writing NumPy `.npy` files (the CLI's input and output format).
//!
//! Supported: format versions 1.0, 2.0 and 3.0 on read (1.0 on write, 2.0 only if a
//! header would not fit 1.0), little-endian float32 (`'<f4'`) and float16 (`'<f2'`),
//! C order, any rank (rank 0 is a scalar with one element). Anything else (Fortran
//! order, other dtypes, big-endian data, truncated files) is an [`Error::Io`] naming
//! the file, never a panic.
//!
//! ```no_run
//! use ringattn::npy::{read_npy, write_npy_f32};
//! # fn main() -> ringattn::Result<()> {
//! write_npy_f32("x.npy", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
//! let a = read_npy("x.npy")?;
//! assert_eq!(a.shape, vec![2, 3]);
//! assert_eq!(a.to_f32_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! # Ok(()) }
//! ```

use std::path::Path;

use half::f16;

use crate::error::{Error, Result};
use crate::tensor::Dtype;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// The header (magic, version, length, dict, padding) is padded to a multiple of this.
const ALIGN: usize = 64;

/// The element data of an `.npy` array.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    F16(Vec<f16>),
}

/// An array read from (or to be written to) an `.npy` file: C order, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

impl NpyArray {
    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self.data {
            NpyData::F32(_) => Dtype::F32,
            NpyData::F16(_) => Dtype::F16,
        }
    }

    /// Number of elements (the product of the shape; 1 for a scalar).
    pub fn numel(&self) -> usize {
        match &self.data {
            NpyData::F32(v) => v.len(),
            NpyData::F16(v) => v.len(),
        }
    }

    /// The data widened to f32 (f16 values convert exactly).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
        }
    }

    /// The data as f16 (f32 values are rounded to nearest).
    pub fn to_f16_vec(&self) -> Vec<f16> {
        match &self.data {
            NpyData::F32(v) => v.iter().map(|&x| f16::from_f32(x)).collect(),
            NpyData::F16(v) => v.clone(),
        }
    }

    /// The NumPy dtype string (`'<f4'` or `'<f2'`).
    pub fn descr(&self) -> &'static str {
        descr_of(self.dtype())
    }

    /// The shape as a Python tuple, e.g. `(1, 37, 2, 32)` or `(5,)`.
    pub fn shape_str(&self) -> String {
        shape_tuple(&self.shape)
    }
}

/// Writes a Python tuple literal for a shape: `()`, `(5,)`, `(2, 3)`.
pub fn shape_tuple(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [a] => format!("({a},)"),
        _ => format!("({})", shape.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

fn descr_of(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F32 => "<f4",
        Dtype::F16 => "<f2",
    }
}

fn io_err(path: &str, message: impl Into<String>) -> Error {
    Error::Io { path: path.to_string(), message: message.into() }
}

/// Reads an `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| io_err(&p, format!("cannot read: {e}")))?;
    parse_npy(&bytes, &p)
}

/// Reads a boolean `.npy` array (numpy `bool`, or `uint8`/`int8` where nonzero is
/// true), e.g. a block matrix for `ringattn run --block-mask`. Returns (shape, values).
pub fn read_npy_bool(path: impl AsRef<Path>) -> Result<(Vec<usize>, Vec<bool>)> {
    let path = path.as_ref();
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| io_err(&p, format!("cannot read: {e}")))?;
    let err = |m: String| io_err(&p, m);
    let (header, end) = parse_preamble(&bytes, &p)?;
    if !matches!(header.descr.as_str(), "|b1" | "|u1" | "|i1") {
        return Err(err(format!("unsupported dtype '{}' for a boolean mask: save it as bool or uint8 (arr.astype(bool))", header.descr)));
    }
    if header.fortran_order {
        return Err(err("Fortran-order arrays are not supported; save a C-order array".into()));
    }
    let numel: usize = header.shape.iter().product();
    let data = &bytes[end..];
    if data.len() != numel {
        return Err(err(format!("shape {} needs {numel} bytes of data but the file has {}", shape_tuple(&header.shape), data.len())));
    }
    Ok((header.shape, data.iter().map(|&b| b != 0).collect()))
}

/// Checks the magic string and version and parses the header; returns it and the
/// offset of the data.
fn parse_preamble(bytes: &[u8], name: &str) -> Result<(Header, usize)> {
    let err = |m: String| io_err(name, m);
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(err("not a .npy file (missing the \\x93NUMPY magic string)".into()));
    }
    if bytes.len() < 8 {
        return Err(err("truncated .npy header (no version)".into()));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_bytes, utf8) = match major {
        1 => (2usize, false),
        2 => (4, false),
        3 => (4, true),
        _ => return Err(err(format!("unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)"))),
    };
    let start = 8 + len_bytes;
    if bytes.len() < start {
        return Err(err("truncated .npy header (no header length)".into()));
    }
    let header_len = if len_bytes == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        err(format!("truncated .npy header: it claims {header_len} bytes but the file has {} after the length field", bytes.len() - start))
    })?;
    let raw = &bytes[start..end];
    let text: String = if utf8 {
        std::str::from_utf8(raw).map_err(|_| err("the .npy header is not valid UTF-8".into()))?.to_string()
    } else {
        // Versions 1 and 2 are latin-1; every byte is one char.
        raw.iter().map(|&b| b as char).collect()
    };
    let header = parse_header(&text).map_err(|m| err(format!("bad .npy header {:?}: {m}", text.trim_end())))?;
    Ok((header, end))
}

/// Parses the bytes of an `.npy` file; `name` is used in error messages.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<NpyArray> {
    let err = |m: String| io_err(name, m);
    let (header, end) = parse_preamble(bytes, name)?;
    let dtype = match header.descr.as_str() {
        "<f4" => Dtype::F32,
        "<f2" => Dtype::F16,
        ">f4" | ">f2" => {
            return Err(err(format!("big-endian dtype '{}' is not supported; save little-endian data (arr.astype('<f4'))", header.descr)))
        }
        other => {
            return Err(err(format!(
                "unsupported dtype '{other}': ringattn reads little-endian float32 ('<f4') and float16 ('<f2'); convert with arr.astype(np.float32)"
            )))
        }
    };
    if header.fortran_order {
        return Err(err("Fortran-order arrays are not supported; save a C-order array (np.save(path, np.ascontiguousarray(arr)))".into()));
    }
    let numel = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| err(format!("shape {} has too many elements", shape_tuple(&header.shape))))?;
    let nbytes =
        numel.checked_mul(dtype.size() as usize).ok_or_else(|| err(format!("shape {} has too many elements", shape_tuple(&header.shape))))?;
    let data = &bytes[end..];
    if data.len() < nbytes {
        return Err(err(format!(
            "truncated data: shape {} of {} needs {nbytes} bytes but the file has {}",
            shape_tuple(&header.shape),
            header.descr,
            data.len()
        )));
    }
    if data.len() > nbytes {
        return Err(err(format!(
            "{} unexpected bytes after the data of shape {} ({})",
            data.len() - nbytes,
            shape_tuple(&header.shape),
            header.descr
        )));
    }
    let data = match dtype {
        Dtype::F32 => NpyData::F32(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        Dtype::F16 => NpyData::F16(data.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect()),
    };
    Ok(NpyArray { shape: header.shape, data })
}

/// The three keys of an `.npy` header.
#[derive(Debug, PartialEq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A value of the Python literal subset `.npy` headers use.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Int(usize),
    Tuple(Vec<Value>),
    /// Anything else that parsed as a list (`[...]`, structured dtypes).
    List,
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Lexer<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at offset {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        let q = self.peek().ok_or("unexpected end")?;
        if q != b'\'' && q != b'"' {
            return Err(format!("expected a string at offset {}", self.i));
        }
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != q {
            if self.s[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err("unterminated string".into());
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }
    fn value(&mut self, depth: usize) -> std::result::Result<Value, String> {
        if depth > 16 {
            return Err("nested too deeply".into());
        }
        match self.peek().ok_or("unexpected end")? {
            b'\'' | b'"' => Ok(Value::Str(self.string()?)),
            b'(' | b'[' => {
                let open = self.s[self.i];
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    if !self.eat(b',') {
                        self.expect(close)?;
                        break;
                    }
                }
                Ok(if open == b'(' { Value::Tuple(items) } else { Value::List })
            }
            c if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                let n = digits.parse::<usize>().map_err(|_| format!("dimension {digits} is too large"))?;
                // Python 2 long suffix, as in headers written by old NumPy: (3L, 4L).
                if self.i < self.s.len() && (self.s[self.i] == b'L' || self.s[self.i] == b'l') {
                    self.i += 1;
                }
                Ok(Value::Int(n))
            }
            c if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Value::Bool(true)),
                    b"False" => Ok(Value::Bool(false)),
                    w => Err(format!("unexpected word `{}`", String::from_utf8_lossy(w))),
                }
            }
            b'-' => Err("negative dimension".into()),
            c => Err(format!("unexpected character '{}' at offset {}", c as char, self.i)),
        }
    }
}

fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut lx = Lexer { s: text.as_bytes(), i: 0 };
    lx.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if lx.eat(b'}') {
            break;
        }
        let key = lx.string()?;
        lx.expect(b':')?;
        let val = lx.value(0)?;
        match (key.as_str(), val) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("descr", Value::List) => return Err("structured dtypes are not supported (use a plain float32 or float16 array)".into()),
            ("descr", _) => return Err("'descr' must be a string".into()),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("fortran_order", _) => return Err("'fortran_order' must be True or False".into()),
            ("shape", Value::Tuple(items)) => {
                let mut dims = Vec::with_capacity(items.len());
                for it in items {
                    match it {
                        Value::Int(n) => dims.push(n),
                        _ => return Err("'shape' must be a tuple of non-negative integers".into()),
                    }
                }
                shape = Some(dims);
            }
            ("shape", _) => return Err("'shape' must be a tuple".into()),
            // NumPy ignores unknown keys only in the sense that it rejects them; be lenient.
            _ => {}
        }
        if !lx.eat(b',') {
            lx.expect(b'}')?;
            break;
        }
    }
    if lx.peek().is_some() {
        return Err(format!("unexpected text after the header dict at offset {}", lx.i));
    }
    Ok(Header {
        descr: descr.ok_or("missing key 'descr'")?,
        fortran_order: fortran.ok_or("missing key 'fortran_order'")?,
        shape: shape.ok_or("missing key 'shape'")?,
    })
}

/// Serializes an array to `.npy` bytes (format 1.0; 2.0 only for huge headers).
pub fn to_npy_bytes(shape: &[usize], dtype: Dtype, data_le: &[u8]) -> Vec<u8> {
    npy_bytes_with_descr(shape, descr_of(dtype), data_le)
}

/// Writes a boolean array (C order, numpy `bool`) as `.npy`, e.g. a block matrix for
/// `ringattn run --block-mask`.
pub fn write_npy_bool(path: impl AsRef<Path>, shape: &[usize], data: &[bool]) -> Result<()> {
    let path = path.as_ref();
    check_len(&path.display().to_string(), shape, data.len())?;
    let bytes: Vec<u8> = data.iter().map(|&b| b as u8).collect();
    write_bytes(path, &npy_bytes_with_descr(shape, "|b1", &bytes))
}

fn npy_bytes_with_descr(shape: &[usize], descr: &str, data_le: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_tuple(shape));
    // magic(6) + version(2) + header length (u16 in 1.0, u32 in 2.0), then the dict,
    // space padding and '\n', so that the data starts at a multiple of ALIGN.
    let layout = |len_bytes: usize| {
        let prefix = MAGIC.len() + 2 + len_bytes;
        let total = (prefix + dict.len() + 1).div_ceil(ALIGN) * ALIGN;
        (prefix, total, total - prefix)
    };
    let (version, len_bytes) = if layout(2).2 <= u16::MAX as usize { (1u8, 2usize) } else { (2, 4) };
    let (_, total, header_len) = layout(len_bytes);
    let mut out = Vec::with_capacity(total + data_le.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if len_bytes == 2 {
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data_le);
    out
}

fn check_len(path: &str, shape: &[usize], len: usize) -> Result<()> {
    let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if numel != Some(len) {
        return Err(io_err(
            path,
            format!(
                "cannot write shape {}: it needs {} elements but {len} were given",
                shape_tuple(shape),
                numel.map(|n| n.to_string()).unwrap_or_else(|| "too many".into())
            ),
        ));
    }
    Ok(())
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| io_err(&path.display().to_string(), format!("cannot write: {e}")))
}

/// Writes a float32 array (C order) as `.npy` format 1.0.
pub fn write_npy_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<()> {
    let path = path.as_ref();
    check_len(&path.display().to_string(), shape, data.len())?;
    let le: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_bytes(path, &to_npy_bytes(shape, Dtype::F32, &le))
}

/// Writes a float16 array (C order) as `.npy` format 1.0.
pub fn write_npy_f16(path: impl AsRef<Path>, shape: &[usize], data: &[f16]) -> Result<()> {
    let path = path.as_ref();
    check_len(&path.display().to_string(), shape, data.len())?;
    let le: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_bytes(path, &to_npy_bytes(shape, Dtype::F16, &le))
}

/// Writes an [`NpyArray`] in its own dtype.
pub fn write_npy(path: impl AsRef<Path>, array: &NpyArray) -> Result<()> {
    match &array.data {
        NpyData::F32(v) => write_npy_f32(path, &array.shape, v),
        NpyData::F16(v) => write_npy_f16(path, &array.shape, v),
    }
}

/// Writes f32 values as `.npy` in the given dtype (rounding to f16 when asked).
pub fn write_npy_as(path: impl AsRef<Path>, shape: &[usize], data: &[f32], dtype: Dtype) -> Result<()> {
    match dtype {
        Dtype::F32 => write_npy_f32(path, shape, data),
        Dtype::F16 => write_npy_f16(path, shape, &data.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_with_header(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[major, 0]);
        let mut h = dict.as_bytes().to_vec();
        h.push(b'\n');
        if major == 1 {
            out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out
    }

    fn f32_le(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ringattn-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn io_message(e: Error) -> String {
        match e {
            Error::Io { message, .. } => message,
            other => panic!("expected Error::Io, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_f32_files() {
        for shape in [vec![], vec![5], vec![2, 3], vec![1, 37, 2, 32], vec![2, 1, 3, 1, 2], vec![0, 4]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 3.0).collect();
            let p = tmp(&format!("rt_{}.npy", shape.len()));
            write_npy_f32(&p, &shape, &data).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            assert_eq!((bytes.len() - n * 4) % ALIGN, 0, "header is padded to {ALIGN}");
            assert_eq!(bytes[6], 1, "writes version 1.0");
            let a = read_npy(&p).unwrap();
            assert_eq!(a.shape, shape);
            assert_eq!(a.data, NpyData::F32(data));
        }
    }

    #[test]
    fn round_trip_f16_with_specials() {
        let data: Vec<f16> = [0.0f32, -0.0, 1.5, -2.25, 65504.0, f32::INFINITY, f32::NEG_INFINITY, 1e-7].iter().map(|&x| f16::from_f32(x)).collect();
        let p = tmp("rt_f16.npy");
        write_npy_f16(&p, &[2, 4], &data).unwrap();
        let a = read_npy(&p).unwrap();
        assert_eq!(a.shape, vec![2, 4]);
        assert_eq!(a.dtype(), Dtype::F16);
        let got = a.to_f16_vec();
        assert_eq!(got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), data.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        // NaN survives as NaN.
        write_npy_f32(&p, &[1], &[f32::NAN]).unwrap();
        assert!(read_npy(&p).unwrap().to_f32_vec()[0].is_nan());
    }

    #[test]
    fn header_matches_numpy_layout() {
        let b = to_npy_bytes(&[3], Dtype::F32, &f32_le(&[1.0, 2.0, 3.0]));
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        let text = std::str::from_utf8(&b[10..10 + hl]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"), "{text}");
        assert!(text.ends_with('\n'));
        assert_eq!((10 + hl) % 64, 0);
    }

    #[test]
    fn parses_header_variants() {
        let h = parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }").unwrap();
        assert_eq!(h, Header { descr: "<f4".into(), fortran_order: false, shape: vec![2, 3] });
        // Key order, double quotes, no trailing comma, Python 2 longs, extra whitespace.
        let h = parse_header("{ \"shape\" : (4L,5L) , \"fortran_order\":True,\"descr\":\"<f2\"}  \n").unwrap();
        assert_eq!(h, Header { descr: "<f2".into(), fortran_order: true, shape: vec![4, 5] });
        assert_eq!(parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': ()}").unwrap().shape, Vec::<usize>::new());
        assert_eq!(parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (7,)}").unwrap().shape, vec![7]);
        for bad in [
            "",
            "{",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
            "{'descr: '<f4'",
        ] {
            assert!(parse_header(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn reads_versions_2_and_3() {
        let d = f32_le(&[1.0, 2.0]);
        for major in [1, 2, 3] {
            let b = bytes_with_header(major, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &d);
            let a = parse_npy(&b, "v.npy").unwrap();
            assert_eq!(a.to_f32_vec(), vec![1.0, 2.0], "version {major}");
        }
        let b = bytes_with_header(4, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", &d);
        assert!(io_message(parse_npy(&b, "v.npy").unwrap_err()).contains("version 4.0"));
    }

    #[test]
    fn rejects_bad_magic() {
        let e = parse_npy(b"PK\x03\x04 this is a zip", "x.npz").unwrap_err();
        assert!(e.to_string().starts_with("x.npz: "), "{e}");
        assert!(io_message(e).contains("magic"));
        assert!(parse_npy(b"", "e.npy").is_err());
        assert!(parse_npy(b"\x93NUMPY", "e.npy").is_err());
        assert!(parse_npy(b"\x93NUMPY\x01\x00", "e.npy").is_err());
        assert!(parse_npy(b"\x93NUMPY\x01\x00\xff\x00{", "e.npy").is_err());
    }

    #[test]
    fn rejects_other_dtypes() {
        for (descr, needle) in [("<f8", "'<f8'"), ("<i4", "'<i4'"), ("|u1", "'|u1'"), (">f4", "big-endian"), ("<c8", "'<c8'")] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}");
            let m = io_message(parse_npy(&bytes_with_header(1, &dict, &[0u8; 16]), "d.npy").unwrap_err());
            assert!(m.contains(needle), "{descr}: {m}");
            assert!(m.contains("float32") || m.contains("little-endian"), "{m}");
        }
        let m = io_message(
            parse_npy(&bytes_with_header(1, "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }", &[0u8; 4]), "s.npy").unwrap_err(),
        );
        assert!(m.contains("structured"), "{m}");
    }

    #[test]
    fn rejects_fortran_order() {
        let b = bytes_with_header(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", &f32_le(&[1.0; 4]));
        let m = io_message(parse_npy(&b, "f.npy").unwrap_err());
        assert!(m.contains("Fortran"), "{m}");
    }

    #[test]
    fn rejects_truncated_and_trailing_data() {
        let full = to_npy_bytes(&[2, 3], Dtype::F32, &f32_le(&[0.5; 6]));
        assert!(parse_npy(&full, "ok.npy").is_ok());
        let m = io_message(parse_npy(&full[..full.len() - 1], "t.npy").unwrap_err());
        assert!(m.contains("truncated data"), "{m}");
        // Cut inside the header.
        let m = io_message(parse_npy(&full[..40], "t.npy").unwrap_err());
        assert!(m.contains("truncated"), "{m}");
        let mut long = full.clone();
        long.extend_from_slice(&[0, 0, 0, 0]);
        assert!(io_message(parse_npy(&long, "l.npy").unwrap_err()).contains("unexpected bytes"));
        // A shape whose element count overflows usize.
        let b = bytes_with_header(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", &[]);
        assert!(io_message(parse_npy(&b, "o.npy").unwrap_err()).contains("too many"));
    }

    #[test]
    fn missing_file_and_wrong_length() {
        let e = read_npy("/definitely/not/here.npy").unwrap_err();
        assert!(e.to_string().contains("/definitely/not/here.npy"), "{e}");
        assert!(matches!(e, Error::Io { .. }));
        let e = write_npy_f32(tmp("w.npy"), &[2, 2], &[1.0; 3]).unwrap_err();
        assert!(io_message(e).contains("needs 4 elements"));
    }
}
