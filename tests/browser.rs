//! The headless browser the HTML report is checked in: a page is rendered by the real
//! Chromium and the screenshot read back pixel by pixel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/browser.rs"]
mod browser;

use browser::{Rect, Screenshot, WHITE};

const RED: [u8; 3] = [200, 30, 40];

#[test]
fn a_coloured_box_is_where_the_page_puts_it_and_the_rest_is_white() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("box.html");
    std::fs::write(
        &html,
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>box</title></head>
<body style="margin:0;background:#fff">
<div style="position:absolute;left:40px;top:30px;width:120px;height:60px;background:rgb(200,30,40)"></div>
</body></html>"#,
    )
    .unwrap();

    let shot = browser::render(&html, 320, 200);
    assert_eq!(
        (shot.width, shot.height),
        (320, 200),
        "one CSS pixel per PNG pixel"
    );

    let the_box = Rect::new(40, 30, 120, 60);
    // Inside: every pixel the box's colour.
    assert_eq!(
        shot.colours(the_box.inset(1))
            .into_iter()
            .collect::<Vec<_>>(),
        vec![RED]
    );
    // Outside: white everywhere (a pixel of slack for edge rendering).
    let stray = shot.stray_pixels(&[the_box.outset(1)], WHITE, 10);
    assert!(
        stray.is_empty(),
        "non-white pixels outside the box: {stray:?}"
    );
    // And the box is exactly where the page put it.
    assert_eq!(shot.ink_bounds(WHITE), Some(the_box));
    assert!(shot.is_blank(Rect::new(200, 120, 100, 60), WHITE));
    assert!(shot.is_non_blank(Rect::new(150, 80, 20, 20), WHITE));
    assert_eq!(shot.distinct_colours(shot.bounds()), 2);
}

#[test]
fn the_pixel_helpers_see_what_is_drawn() {
    // A 4×2 picture made by hand: white, with one red pixel at (2, 1).
    let mut raw = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut raw, 4, 2);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let mut data = [255u8; 4 * 2 * 3];
        data[(4 + 2) * 3..(4 + 2) * 3 + 3].copy_from_slice(&RED);
        w.write_image_data(&data).unwrap();
    }
    let shot = Screenshot::decode(&raw).unwrap();
    assert_eq!(shot.pixel(2, 1), RED);
    assert_eq!(shot.distinct_colours(shot.bounds()), 2);
    assert!(shot.is_blank(Rect::new(0, 0, 4, 1), WHITE));
    assert!(shot.is_non_blank(Rect::new(2, 1, 1, 1), WHITE));
    assert_eq!(shot.ink_bounds(WHITE), Some(Rect::new(2, 1, 1, 1)));
    assert_eq!(shot.stray_pixels(&[], WHITE, 5), vec![(2, 1, RED)]);
}
