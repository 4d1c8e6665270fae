//! `.npy` files of `f32` arrays (numpy format v1), for exporting features and reading
//! reference fixtures.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use npyz::WriterBuilder;

/// Writes `data` (row-major, C order) with the given `shape` as a little-endian `<f4` array.
pub fn write_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape does not match data"
    );
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = BufWriter::new(File::create(path)?);
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(file)
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()
}

/// Reads an `f32` array: `(shape, data)` with `data` in C (row-major) order, whatever order
/// the file stores (Fortran-order files are transposed on reading).
pub fn read_f32(path: impl AsRef<Path>) -> std::io::Result<(Vec<usize>, Vec<f32>)> {
    let npy = npyz::NpyFile::new(BufReader::new(File::open(path)?))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let fortran = npy.order() == npyz::Order::Fortran;
    let data = npy.into_vec::<f32>()?;
    if !fortran || shape.len() < 2 {
        return Ok((shape, data));
    }
    // Fortran order: the first index varies fastest. Walk the C-order indices and fetch
    // each element from its column-major offset.
    let n = data.len();
    let mut c = vec![0.0; n];
    let mut index = vec![0usize; shape.len()];
    for value in c.iter_mut() {
        let mut offset = 0;
        let mut stride = 1;
        for (i, &dim) in index.iter().zip(&shape) {
            offset += i * stride;
            stride *= dim;
        }
        *value = data[offset];
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok((shape, c))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("chorder-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        super::write_f32(&path, &[2, 3, 4], &data).unwrap();
        let (shape, back) = super::read_f32(&path).unwrap();
        assert_eq!(shape, vec![2, 3, 4]);
        assert_eq!(back, data);
        // The header is the numpy magic string followed by a dict naming '<f4'.
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        assert!(String::from_utf8_lossy(&bytes[..128]).contains("'<f4'"));
    }

    #[test]
    fn fortran_order_files_come_back_in_c_order() {
        // Hand-written v1 header for a 2x3 Fortran-order array: memory holds columns.
        let dir = std::env::temp_dir().join(format!("chorder-npy-f-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.npy");
        let dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
        let mut header = dict.to_string();
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        // C-order matrix [[1,2,3],[4,5,6]] stored column by column.
        for v in [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0] {
            bytes.extend(v.to_le_bytes());
        }
        std::fs::write(&path, bytes).unwrap();
        let (shape, data) = super::read_f32(&path).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}
