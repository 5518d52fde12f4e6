//! The demo's provider photos, drawn at seed time so the demo fetches nothing: a skyline at
//! dusk whose colours and buildings follow from the provider's name, as a small PNG.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

const WIDTH: u32 = 320;
const HEIGHT: u32 = 200;

/// A PNG photo for `name`: the same name always draws the same picture.
pub fn png_for(name: &str) -> std::io::Result<Vec<u8>> {
    let seed = name.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    let mut raw = Vec::with_capacity(((WIDTH * 3 + 1) * HEIGHT) as usize);
    for y in 0..HEIGHT {
        raw.push(0); // filter: none
        for x in 0..WIDTH {
            raw.extend_from_slice(&pixel(seed, x, y));
        }
    }
    let mut deflated = ZlibEncoder::new(Vec::new(), Compression::best());
    deflated.write_all(&raw)?;
    let data = deflated.finish()?;

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&WIDTH.to_be_bytes());
    header.extend_from_slice(&HEIGHT.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no interlace
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &data);
    chunk(&mut png, b"IEND", &[]);
    Ok(png)
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    png.extend_from_slice(&length.to_be_bytes());
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    png.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// One pixel: sky shading to the horizon, a sun, buildings with lit windows, the ground.
fn pixel(seed: u32, x: u32, y: u32) -> [u8; 3] {
    let ground = HEIGHT - 24;
    if y >= ground {
        return [196, 164, 120];
    }
    // Buildings: columns 40 px wide, each with a height from the seed.
    let column = x / 40;
    let height = 50 + (seed.rotate_left(column * 5) % 90);
    let inside = x % 40;
    if y >= ground - height && (4..36).contains(&inside) {
        let window = (inside - 4) % 8 < 4 && (y % 12) < 6 && y > ground - height + 6;
        let lit = window && (seed.rotate_right(x / 8 + y / 12) & 3) != 0;
        return if lit { [250, 214, 120] } else { [52, 64, 92] };
    }
    let (sun_x, sun_y) = (60 + seed % 200, 48);
    let (dx, dy) = (x.abs_diff(sun_x), y.abs_diff(sun_y));
    if dx * dx + dy * dy < 18 * 18 {
        return [255, 236, 180];
    }
    // Sky: the seed's colour at the top, warm at the horizon.
    let top = [
        40 + (seed & 0x3f) as u8,
        70 + ((seed >> 8) & 0x3f) as u8,
        140 + ((seed >> 16) & 0x3f) as u8,
    ];
    let bottom = [250u8, 170, 110];
    let t = y as f32 / ground as f32;
    let mix = |a: u8, b: u8| (f32::from(a) * (1.0 - t) + f32::from(b) * t) as u8;
    [
        mix(top[0], bottom[0]),
        mix(top[1], bottom[1]),
        mix(top[2], bottom[2]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_is_a_small_png_drawn_the_same_way_each_time() {
        let photo = png_for("Haram Towers Hotel").unwrap();
        assert!(photo.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(photo.len() < 64 * 1024, "{} bytes", photo.len());
        assert_eq!(photo, png_for("Haram Towers Hotel").unwrap());
        assert_ne!(photo, png_for("Al-Balad Inn").unwrap());
    }
}
