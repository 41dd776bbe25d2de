//! A real headless browser for the HTML report: Debian's Chromium renders a local file to
//! a PNG, and small helpers read the picture back ("is this rectangle blank?", "how many
//! colours are there?"), so a test can check what a person would see.
//!
//! The flags are the ones that work on a closed network: without the background-networking
//! ones Chromium keeps dialling Google's hosts and the machine refuses each connection. A
//! fresh `--user-data-dir` (and HOME) per render means no profile leaks between tests. The
//! device scale factor is pinned to 1, so one CSS pixel is one PNG pixel.
//!
//! `scripts/test` installs Chromium with apt (`chromium`); `BREACHBOOK_CHROMIUM` overrides
//! the binary.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one render may take (a cold start on a loaded 2-core machine is slow).
const RENDER_TIMEOUT: Duration = Duration::from_secs(90);

/// An RGB colour.
pub type Rgb = [u8; 3];

/// White, the page's default background.
pub const WHITE: Rgb = [255, 255, 255];

/// A rectangle in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub const fn new(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }

    /// The rectangle shrunk by `by` pixels on every side (clear of anti-aliased edges).
    pub fn inset(self, by: u32) -> Rect {
        Rect::new(
            self.x + by,
            self.y + by,
            self.w.saturating_sub(2 * by),
            self.h.saturating_sub(2 * by),
        )
    }

    /// The rectangle grown by `by` pixels on every side (clipped at 0).
    pub fn outset(self, by: u32) -> Rect {
        let x = self.x.saturating_sub(by);
        let y = self.y.saturating_sub(by);
        Rect::new(x, y, self.x + self.w + by - x, self.y + self.h + by - y)
    }

    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }
}

/// A decoded screenshot, 8-bit RGB.
#[derive(Debug, Clone)]
pub struct Screenshot {
    pub width: u32,
    pub height: u32,
    rgb: Vec<u8>,
}

impl Screenshot {
    /// Decodes a PNG (any colour type and depth is normalized to 8-bit RGB; alpha is
    /// dropped, which for a page screenshot is always opaque).
    pub fn decode(png_bytes: &[u8]) -> Result<Screenshot, String> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
        let size = reader
            .output_buffer_size()
            .ok_or("the PNG is too large to decode")?;
        let mut buf = vec![0u8; size];
        let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
        buf.truncate(info.buffer_size());
        let channels = match info.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => return Err("indexed PNG left unexpanded".into()),
        };
        let (w, h) = (info.width as usize, info.height as usize);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in buf.chunks(info.line_size).take(h) {
            for px in row.chunks(channels).take(w) {
                match channels {
                    1 | 2 => rgb.extend_from_slice(&[px[0], px[0], px[0]]),
                    _ => rgb.extend_from_slice(&px[..3]),
                }
            }
        }
        Ok(Screenshot {
            width: info.width,
            height: info.height,
            rgb,
        })
    }

    /// Reads and decodes a PNG file.
    pub fn open(path: &Path) -> Screenshot {
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Screenshot::decode(&bytes).unwrap_or_else(|e| panic!("decoding {}: {e}", path.display()))
    }

    /// The whole picture as a rectangle.
    pub fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    pub fn pixel(&self, x: u32, y: u32) -> Rgb {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Every pixel of `rect` (clipped to the picture), row by row.
    pub fn pixels(&self, rect: Rect) -> impl Iterator<Item = (u32, u32, Rgb)> + '_ {
        let x_end = (rect.x + rect.w).min(self.width);
        let y_end = (rect.y + rect.h).min(self.height);
        (rect.y..y_end).flat_map(move |y| (rect.x..x_end).map(move |x| (x, y, self.pixel(x, y))))
    }

    /// The distinct colours in `rect`.
    pub fn colours(&self, rect: Rect) -> BTreeSet<Rgb> {
        self.pixels(rect).map(|(_, _, c)| c).collect()
    }

    /// How many distinct colours `rect` holds.
    pub fn distinct_colours(&self, rect: Rect) -> usize {
        self.colours(rect).len()
    }

    /// True when every pixel of `rect` is `background`.
    pub fn is_blank(&self, rect: Rect, background: Rgb) -> bool {
        self.pixels(rect).all(|(_, _, c)| c == background)
    }

    /// True when some pixel of `rect` differs from `background`.
    pub fn is_non_blank(&self, rect: Rect, background: Rgb) -> bool {
        !self.is_blank(rect, background)
    }

    /// Pixels outside every rectangle of `except` that are not `background`, as
    /// `(x, y, colour)`, at most `limit` of them (for failure messages).
    pub fn stray_pixels(
        &self,
        except: &[Rect],
        background: Rgb,
        limit: usize,
    ) -> Vec<(u32, u32, Rgb)> {
        self.pixels(self.bounds())
            .filter(|(x, y, c)| *c != background && !except.iter().any(|r| r.contains(*x, *y)))
            .take(limit)
            .collect()
    }

    /// The smallest rectangle holding every pixel that is not `background`.
    pub fn ink_bounds(&self, background: Rgb) -> Option<Rect> {
        let mut found: Option<(u32, u32, u32, u32)> = None;
        for (x, y, c) in self.pixels(self.bounds()) {
            if c != background {
                let (x0, y0, x1, y1) = found.unwrap_or((x, y, x, y));
                found = Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y)));
            }
        }
        found.map(|(x0, y0, x1, y1)| Rect::new(x0, y0, x1 - x0 + 1, y1 - y0 + 1))
    }
}

/// The Chromium binary: `BREACHBOOK_CHROMIUM`, else `chromium` on PATH.
pub fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("BREACHBOOK_CHROMIUM") {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Renders `html` (a local file) headless at `width`×`height` CSS pixels and returns the
/// decoded screenshot; the PNG is kept next to the HTML as `<name>.png`.
pub fn render(html: &Path, width: u32, height: u32) -> Screenshot {
    let png = html.with_extension("png");
    render_to(html, &png, width, height);
    Screenshot::open(&png)
}

/// Renders `html` to the PNG file `png`.
pub fn render_to(html: &Path, png: &Path, width: u32, height: u32) {
    let bin = chromium();
    if !bin.is_file() {
        panic!(
            "Chromium is not installed ({}): the browser tests need it. scripts/test installs it \
             (apt-get install chromium); or set BREACHBOOK_CHROMIUM",
            bin.display()
        );
    }
    let html = html
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", html.display()));
    let profile = tempfile::Builder::new()
        .prefix("breachbook-chromium-")
        .tempdir()
        .expect("a temporary profile folder");
    let _ = std::fs::remove_file(png);
    let log = profile.path().join("chromium.log");
    let out = std::fs::File::create(&log).expect("chromium log");
    let err = out.try_clone().expect("chromium log");
    let mut child = Command::new(&bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("file://{}", html.display()))
        .env("HOME", profile.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own group: helper processes end with it.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
    let pgid = child.id();
    let deadline = Instant::now() + RENDER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever it left behind (zygote, utility processes) goes too.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let printed = std::fs::read_to_string(&log).unwrap_or_default();
    match status {
        None => panic!(
            "Chromium did not finish rendering {} within {} s:\n{printed}",
            html.display(),
            RENDER_TIMEOUT.as_secs()
        ),
        Some(s) if !s.success() || !png.exists() => panic!(
            "Chromium ({s}) wrote no screenshot of {}:\n{printed}",
            html.display()
        ),
        Some(_) => {}
    }
}
