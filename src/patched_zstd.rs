//! Tests of lockstep's patch to the zstd binding (`vendor/zstd`, see its PATCH.md): rustic_core
//! compresses and decompresses every blob through `zstd::stream::{encode_all, decode_all}`, so
//! these pin what the engine relies on — every input comes back, every frame is an ordinary
//! one, and inputs the one-call path does not take still decode as before.

use std::io::Write;

/// Deterministic bytes no compressor can shrink (xorshift64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

/// XML-like text, as the compressible part of an IM host.
fn text(len: usize) -> Vec<u8> {
    let line = b"<component id=\"com.ibm.websphere.ND.v90\" version=\"9.0.5017\"/>\n";
    line.iter().copied().cycle().take(len).collect()
}

#[test]
fn blobs_come_back_whole_from_frames_that_state_their_size() {
    let mut inputs = vec![
        Vec::new(),
        vec![7],
        text(100),
        text(5_000),
        noise(300_000, 1),
    ];
    let mut mixed = text(1 << 20);
    mixed.extend(noise(2 << 20, 2));
    inputs.push(mixed);
    for level in [3, 1, 19, 3] {
        for input in &inputs {
            let frame = zstd::stream::encode_all(&input[..], level).unwrap();
            assert_eq!(
                zstd::zstd_safe::get_frame_content_size(&frame).unwrap(),
                Some(input.len() as u64),
                "a frame of {} bytes at level {level} does not state its size",
                input.len()
            );
            assert_eq!(&zstd::stream::decode_all(&frame[..]).unwrap(), input);
        }
    }
    let compressible = text(5_000);
    let frame = zstd::stream::encode_all(&compressible[..], 3).unwrap();
    assert!(
        frame.len() < compressible.len() / 10,
        "{} bytes",
        frame.len()
    );
}

#[test]
fn frames_the_one_call_path_does_not_take_still_decode() {
    let (a, b) = (text(70_000), noise(50_000, 3));

    // written by a streaming encoder, as restic, rustic and older lockstep versions did
    let mut streaming = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    streaming.write_all(&a).unwrap();
    let streamed = streaming.finish().unwrap();
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(),
        None
    );
    assert_eq!(zstd::stream::decode_all(&streamed[..]).unwrap(), a);

    // two frames: the first one's size is not the whole output
    let mut two = zstd::stream::encode_all(&a[..], 3).unwrap();
    two.extend(zstd::stream::encode_all(&b[..], 3).unwrap());
    assert_eq!(
        zstd::stream::decode_all(&two[..]).unwrap(),
        [a.clone(), b].concat()
    );

    // a stated size above the one-call limit streams
    let large = vec![0u8; (64 << 20) + 1];
    let frame = zstd::stream::encode_all(&large[..], 3).unwrap();
    assert_eq!(zstd::stream::decode_all(&frame[..]).unwrap(), large);
}

#[test]
fn damaged_frames_are_errors() {
    let frame = zstd::stream::encode_all(&noise(100_000, 4)[..], 3).unwrap();
    assert!(zstd::stream::decode_all(&frame[..frame.len() / 2]).is_err());
    assert!(zstd::stream::decode_all(&b"not a zstd frame"[..]).is_err());
    // the thread's decoder is still good after the errors
    let input = text(9_000);
    let frame = zstd::stream::encode_all(&input[..], 3).unwrap();
    assert_eq!(zstd::stream::decode_all(&frame[..]).unwrap(), input);
}

#[test]
fn threads_compress_at_once_each_on_its_own_context() {
    let handles: Vec<_> = (0..4u64)
        .map(|seed| {
            std::thread::spawn(move || {
                for round in 0..20 {
                    let mut input = noise(10_000 + round * 997, seed * 100 + round as u64);
                    input.extend(text(round * 1_500));
                    let frame = zstd::stream::encode_all(&input[..], 3).unwrap();
                    assert_eq!(zstd::stream::decode_all(&frame[..]).unwrap(), input);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}
