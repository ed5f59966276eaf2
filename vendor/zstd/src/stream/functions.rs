use std::io;

use super::{Decoder, Encoder};

/// Decompress from the given source as if using a `Decoder`.
///
/// The input data must be in the zstd frame format.
pub fn decode_all<R: io::Read>(mut source: R) -> io::Result<Vec<u8>> {
    // lockstep's patch (PATCH.md): a frame that states its size is decoded in one call, on a
    // context kept per thread; anything else (no stated size, several frames, an error) takes
    // the streaming path below, as before.
    let mut input = Vec::new();
    source.read_to_end(&mut input)?;
    if let Some(output) = decode_one_shot(&input) {
        return Ok(output);
    }
    let mut result = Vec::new();
    copy_decode(&input[..], &mut result)?;
    Ok(result)
}

/// The largest stated size decoded in one call; larger frames stream (a stated size is not
/// trusted for an allocation of any size).
const ONE_SHOT_LIMIT: u64 = 64 << 20;

std::thread_local! {
    static COMPRESSOR: std::cell::RefCell<Option<(i32, crate::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<crate::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn decode_one_shot(input: &[u8]) -> Option<Vec<u8>> {
    use std::convert::TryFrom;
    let size = zstd_safe::get_frame_content_size(input).ok()??;
    if size > ONE_SHOT_LIMIT {
        return None;
    }
    // try_with: no context while the thread's locals are being destroyed (streams instead)
    DECOMPRESSOR
        .try_with(|slot| {
            let mut slot = slot.try_borrow_mut().ok()?;
            if slot.is_none() {
                *slot = Some(crate::bulk::Decompressor::new().ok()?);
            }
            let decompressor = slot.as_mut()?;
            let mut output = Vec::with_capacity(usize::try_from(size).ok()?);
            decompressor.decompress_to_buffer(input, &mut output).ok()?;
            (output.len() as u64 == size).then_some(output)
        })
        .ok()
        .flatten()
}

/// Decompress from the given source as if using a `Decoder`.
///
/// Decompressed data will be appended to `destination`.
pub fn copy_decode<R, W>(source: R, mut destination: W) -> io::Result<()>
where
    R: io::Read,
    W: io::Write,
{
    let mut decoder = Decoder::new(source)?;
    io::copy(&mut decoder, &mut destination)?;
    Ok(())
}

/// Compress all data from the given source as if using an `Encoder`.
///
/// Result will be in the zstd frame format.
///
/// A level of `0` uses zstd's default (currently `3`).
pub fn encode_all<R: io::Read>(mut source: R, level: i32) -> io::Result<Vec<u8>> {
    // lockstep's patch (PATCH.md): compressed in one call, so zstd knows the input's size
    // (tables sized to it, the size stated in the frame), on a context kept per thread instead
    // of a new streaming context whose full-size tables are cleared for every call.
    let mut input = Vec::new();
    source.read_to_end(&mut input)?;
    // The thread's context; a context of its own when it is in use or the thread's locals are
    // being destroyed (try_with), or when it cannot be made (the same call then fails alike).
    let kept = COMPRESSOR.try_with(|slot| {
        let mut slot = slot.try_borrow_mut().ok()?;
        if !matches!(&*slot, Some((kept, _)) if *kept == level) {
            *slot = Some((level, crate::bulk::Compressor::new(level).ok()?));
        }
        let (_, compressor) = slot.as_mut()?;
        Some(compressor.compress(&input))
    });
    match kept {
        Ok(Some(compressed)) => compressed,
        _ => crate::bulk::compress(&input, level),
    }
}

/// Compress all data from the given source as if using an `Encoder`.
///
/// Compressed data will be appended to `destination`.
///
/// A level of `0` uses zstd's default (currently `3`).
pub fn copy_encode<R, W>(
    mut source: R,
    destination: W,
    level: i32,
) -> io::Result<()>
where
    R: io::Read,
    W: io::Write,
{
    let mut encoder = Encoder::new(destination, level)?;
    io::copy(&mut source, &mut encoder)?;
    encoder.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {}
