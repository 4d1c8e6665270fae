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

/// Reads an `f32` array: `(shape, data)` in C order.
pub fn read_f32(path: impl AsRef<Path>) -> std::io::Result<(Vec<usize>, Vec<f32>)> {
    let npy = npyz::NpyFile::new(BufReader::new(File::open(path)?))?;
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    let data = npy.into_vec::<f32>()?;
    Ok((shape, data))
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
}
