//! A minimal zip writer and reader for `.eval` logs.
//!
//! The writer is append-only: every member is compressed in memory first, so its
//! local header carries the CRC and sizes up front (no data descriptors), and a
//! commit moves the central directory forward on disk by the staged members' size,
//! writes the members where it began, then their records after it and a new end
//! record. The directory is never held in memory, so a writer's memory does not
//! grow with the number of members. Members committed earlier are never rewritten,
//! so a process killed mid-commit leaves every earlier member intact and findable
//! by [`scan_local_headers`], which walks local headers from offset 0 and stops at
//! the first truncated or corrupt one.
//!
//! The reader understands stored, deflate and zstd (method 93, what Inspect
//! writes) members and zip64 records.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

pub(crate) const METHOD_STORED: u16 = 0;
pub(crate) const METHOD_DEFLATE: u16 = 8;
pub(crate) const METHOD_ZSTD: u16 = 93;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD64_SIG: u32 = 0x0606_4b50;
const LOCATOR64_SIG: u32 = 0x0706_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;

const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;

const U32_MAX: u64 = 0xFFFF_FFFF;
const U16_MAX: u64 = 0xFFFF;

/// Largest member this reader will inflate (guards against zip bombs).
pub(crate) const MAX_MEMBER_SIZE: u64 = 8 << 30;

/// Errors from the zip layer; the caller adds the file name.
#[derive(Debug)]
pub(crate) enum ZipError {
    Io(io::Error),
    /// The archive structure is invalid (message says what was expected).
    Format(String),
    /// One member is unreadable.
    Member {
        name: String,
        reason: String,
    },
}

impl From<io::Error> for ZipError {
    fn from(e: io::Error) -> Self {
        ZipError::Io(e)
    }
}

fn format_err(msg: impl Into<String>) -> ZipError {
    ZipError::Format(msg.into())
}

/// One member as recorded in a central directory (or recovered from its local header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) method: u16,
    pub(crate) flags: u16,
    pub(crate) crc: u32,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
    /// Offset of the local header.
    pub(crate) offset: u64,
    pub(crate) time: u16,
    pub(crate) date: u16,
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn clamp32(v: u64) -> u32 {
    if v >= U32_MAX {
        u32::MAX
    } else {
        v as u32
    }
}

fn version_needed(zip64: bool) -> u16 {
    if zip64 {
        45
    } else {
        20
    }
}

/// Local file header for `e` (sizes known up front unless `FLAG_DESCRIPTOR`).
fn local_header(e: &Entry) -> Vec<u8> {
    let zip64 = e.compressed_size >= U32_MAX || e.size >= U32_MAX;
    let mut h = Vec::with_capacity(30 + e.name.len() + 20);
    put32(&mut h, LOCAL_SIG);
    put16(&mut h, version_needed(zip64));
    put16(&mut h, e.flags);
    put16(&mut h, e.method);
    put16(&mut h, e.time);
    put16(&mut h, e.date);
    put32(&mut h, e.crc);
    put32(
        &mut h,
        if zip64 {
            u32::MAX
        } else {
            e.compressed_size as u32
        },
    );
    put32(&mut h, if zip64 { u32::MAX } else { e.size as u32 });
    put16(&mut h, e.name.len() as u16);
    put16(&mut h, if zip64 { 20 } else { 0 });
    h.extend_from_slice(e.name.as_bytes());
    if zip64 {
        put16(&mut h, 0x0001);
        put16(&mut h, 16);
        put64(&mut h, e.size);
        put64(&mut h, e.compressed_size);
    }
    h
}

/// Central directory record for `e`, named `name` (the appender keeps names apart).
fn central_header(e: &Entry, name: &str, out: &mut Vec<u8>) {
    let mut extra = Vec::new();
    if e.size >= U32_MAX {
        put64(&mut extra, e.size);
    }
    if e.compressed_size >= U32_MAX {
        put64(&mut extra, e.compressed_size);
    }
    if e.offset >= U32_MAX {
        put64(&mut extra, e.offset);
    }
    let zip64 = !extra.is_empty();
    put32(out, CENTRAL_SIG);
    put16(out, (3 << 8) | 45); // made by: unix, spec 4.5
    put16(out, version_needed(zip64));
    put16(out, e.flags);
    put16(out, e.method);
    put16(out, e.time);
    put16(out, e.date);
    put32(out, e.crc);
    put32(out, clamp32(e.compressed_size));
    put32(out, clamp32(e.size));
    put16(out, name.len() as u16);
    put16(out, if zip64 { extra.len() as u16 + 4 } else { 0 });
    put16(out, 0); // comment length
    put16(out, 0); // disk number
    put16(out, 0); // internal attributes
    put32(out, 0o100644 << 16); // external attributes: regular file rw-r--r--
    put32(out, clamp32(e.offset));
    out.extend_from_slice(name.as_bytes());
    if zip64 {
        put16(out, 0x0001);
        put16(out, extra.len() as u16);
        out.extend_from_slice(&extra);
    }
}

/// End records (zip64 record and locator when needed, then the classic record).
fn end_records(count: u64, cd_offset: u64, cd_size: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(98);
    let zip64 = count >= U16_MAX || cd_offset >= U32_MAX || cd_size >= U32_MAX;
    if zip64 {
        let record_offset = cd_offset + cd_size;
        put32(&mut out, EOCD64_SIG);
        put64(&mut out, 44);
        put16(&mut out, (3 << 8) | 45);
        put16(&mut out, 45);
        put32(&mut out, 0);
        put32(&mut out, 0);
        put64(&mut out, count);
        put64(&mut out, count);
        put64(&mut out, cd_size);
        put64(&mut out, cd_offset);
        put32(&mut out, LOCATOR64_SIG);
        put32(&mut out, 0);
        put64(&mut out, record_offset);
        put32(&mut out, 1);
    }
    put32(&mut out, EOCD_SIG);
    put16(&mut out, 0);
    put16(&mut out, 0);
    let c16 = if count >= U16_MAX {
        0xFFFF
    } else {
        count as u16
    };
    put16(&mut out, c16);
    put16(&mut out, c16);
    put32(&mut out, clamp32(cd_size));
    put32(&mut out, clamp32(cd_offset));
    put16(&mut out, 0);
    out
}

/// Compresses `data` with raw deflate.
pub(crate) fn deflate(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        Compression::new(level),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Compresses `data` with raw deflate, reusing `compressor`: a fresh compressor allocates
/// hundreds of KiB of tables, which dominated the cost of small sample members.
fn deflate_with(compressor: &mut flate2::Compress, data: &[u8]) -> Vec<u8> {
    compressor.reset();
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    loop {
        let consumed = compressor.total_in() as usize;
        match compressor.compress_vec(&data[consumed..], &mut out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => return out,
            // Out of room: grow the buffer and go on.
            Ok(_) => out.reserve(out.capacity().max(64)),
            // Compressing into memory cannot fail; fall back to the one-shot path if it does.
            Err(_) => return deflate(data, Compression::default().level()),
        }
    }
}

/// A member compressed and waiting for the next commit.
struct Staged {
    entry: Entry,
    data: Vec<u8>,
}

/// The append-only zip writer (see the module docs).
///
/// The file is `[members][room][central directory][end records]`. A commit
/// writes the staged members into the room, then appends their records to the
/// directory and writes new end records: the directory already on disk is not
/// rewritten, and is never held in memory, so neither the cost of a commit nor
/// the writer's memory grows with the number of members. When the room runs
/// out, the directory is moved forward on disk (back to front, through a small
/// buffer) to leave at least its own size of room again, so moves cost at most
/// about as many bytes as the members. [`finish`](ZipAppender::finish) closes
/// the room: a finished archive is contiguous.
pub(crate) struct ZipAppender {
    file: File,
    /// End of the last member written: where the next one goes.
    members_end: u64,
    /// Offset of the central directory (`members_end` when there is no room).
    cd_offset: u64,
    /// Bytes of the central directory's records (the end records follow them).
    cd_records: u64,
    /// Records in the central directory.
    count: u64,
    /// Bytes of the current central directory plus end records.
    cd_bytes: u64,
    staged: Vec<Staged>,
    bytes_written: u64,
    level: u32,
    compressor: flate2::Compress,
    time: u16,
    date: u16,
}

/// Room left before the central directory when it has to move, at least.
const MIN_ROOM: u64 = 64 * 1024;

/// Bytes moved at a time when the central directory makes room for members,
/// and the largest write buffer. Kept under glibc's initial mmap threshold
/// (128 KiB): freeing a larger, mmapped buffer raises that threshold (and the
/// trim threshold with it) for the rest of the process, after which the
/// allocator keeps much more freed memory resident; in the soak, RSS then
/// grew by 10-25% between 10,000 and 100,000 samples.
const IO_CHUNK: usize = 64 * 1024;

/// Copies `len` bytes at `from` to `to` in `file`, in the order that reads
/// overlapping bytes before they are overwritten (back to front when moving
/// forward).
fn move_region(file: &File, from: u64, len: u64, to: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    if from == to || len == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; len.min(IO_CHUNK as u64) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len() as u64);
        let at = if to > from { len - done - n } else { done };
        let chunk = &mut buf[..n as usize];
        FileExt::read_exact_at(file, chunk, from + at)?;
        file.write_all_at(chunk, to + at)?;
        done += n;
    }
    Ok(())
}

/// Bytes that can be read at any offset: a file, or the parts of a remote one fetched so far
/// ([`crate::PartialFile`]).
pub(crate) trait Positioned {
    /// Fills `buf` from `offset`, or fails.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The whole length.
    fn byte_len(&self) -> io::Result<u64>;
    /// Says that `range` is about to be read (in pieces): a remote file fetches it at once.
    fn will_read(&self, range: std::ops::Range<u64>) {
        let _ = range;
    }
}

impl Positioned for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        // Positioned reads (pread) do not move a shared file cursor, so several threads may
        // read one archive at once through `&File` (the reader is `Sync`).
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }

    fn byte_len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

/// Reads a region of a file through positioned reads (the appender's cursor stays put).
struct RegionReader<'a, R: Positioned + ?Sized> {
    file: &'a R,
    at: u64,
    end: u64,
}

impl<R: Positioned + ?Sized> Read for RegionReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Whole chunks: a remote file's parts answer exact reads only.
        let n = (self.end - self.at).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.file.read_exact_at(&mut buf[..n], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Parses the central directory records in `records` (`len` bytes found at
/// offset `base`), calling `each` with every entry in order.
fn for_each_record(
    records: impl Read,
    base: u64,
    len: u64,
    mut each: impl FnMut(Entry),
) -> Result<(), ZipError> {
    let mut r = std::io::BufReader::with_capacity(64 * 1024, records);
    let mut at = 0u64;
    let mut fixed = [0u8; 46];
    let mut tail = Vec::new();
    while at < len {
        if at + 46 > len {
            return Err(format_err(format!(
                "truncated central directory: bad record at offset {}",
                base + at
            )));
        }
        r.read_exact(&mut fixed)?;
        if u32_at(&fixed, 0) != CENTRAL_SIG {
            return Err(format_err(format!(
                "truncated central directory: bad record at offset {}",
                base + at
            )));
        }
        let name_len = u16_at(&fixed, 28) as usize;
        let extra_len = u16_at(&fixed, 30) as usize;
        let comment_len = u16_at(&fixed, 32) as usize;
        let record_len = (46 + name_len + extra_len + comment_len) as u64;
        if at + record_len > len {
            return Err(format_err(
                "truncated central directory: record runs past its end",
            ));
        }
        tail.resize(name_len + extra_len + comment_len, 0);
        r.read_exact(&mut tail)?;
        let mut e = Entry {
            name: String::from_utf8_lossy(&tail[..name_len]).into_owned(),
            method: u16_at(&fixed, 10),
            flags: u16_at(&fixed, 8),
            crc: u32_at(&fixed, 16),
            compressed_size: u64::from(u32_at(&fixed, 20)),
            size: u64::from(u32_at(&fixed, 24)),
            offset: u64::from(u32_at(&fixed, 42)),
            time: u16_at(&fixed, 12),
            date: u16_at(&fixed, 14),
        };
        apply_zip64_extra(&tail[name_len..name_len + extra_len], &mut e, true);
        each(e);
        at += record_len;
    }
    Ok(())
}

impl ZipAppender {
    /// Another handle on the archive's file, for positioned reads while it is appended to.
    pub(crate) fn reader(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Creates (truncating) `path` and writes an empty archive's end record.
    pub(crate) fn create(path: &Path, level: u32) -> io::Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let (time, date) = dos_datetime(std::time::SystemTime::now());
        let mut z = Self {
            file,
            members_end: 0,
            cd_offset: 0,
            cd_records: 0,
            count: 0,
            cd_bytes: 0,
            staged: Vec::new(),
            bytes_written: 0,
            level,
            compressor: flate2::Compress::new(Compression::new(level), false),
            time,
            date,
        };
        z.commit(false)?;
        Ok(z)
    }

    /// Compresses `data` as member `name`, to be written by the next [`commit`].
    pub(crate) fn stage(&mut self, name: &str, data: &[u8]) {
        let compressed = deflate_with(&mut self.compressor, data);
        let entry = Entry {
            name: name.to_owned(),
            method: METHOD_DEFLATE,
            flags: FLAG_UTF8,
            crc: crc32fast::hash(data),
            compressed_size: compressed.len() as u64,
            size: data.len() as u64,
            offset: 0,
            time: self.time,
            date: self.date,
        };
        self.staged.push(Staged {
            entry,
            data: compressed,
        });
    }

    /// Total bytes written to the file so far (for write amplification).
    pub(crate) fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Current end of the archive.
    pub(crate) fn len(&self) -> u64 {
        self.cd_offset + self.cd_bytes
    }

    /// The archive as it would be with nothing between its members and its directory: the
    /// members' end, where the directory's records are in the file, and end records for the
    /// directory placed right after the members (see [`crate::Snapshot`]).
    pub(crate) fn snapshot(&self) -> crate::Snapshot {
        crate::Snapshot {
            members_end: self.members_end,
            directory: self.cd_offset..self.cd_offset + self.cd_records,
            end_records: end_records(self.count, self.members_end, self.cd_records),
        }
    }

    /// The members written so far whose name passes `keep`, in file order (read
    /// back from the central directory on disk).
    pub(crate) fn entries_where(&self, keep: impl Fn(&str) -> bool) -> io::Result<Vec<Entry>> {
        let region = RegionReader {
            file: &self.file,
            at: self.cd_offset,
            end: self.cd_offset + self.cd_records,
        };
        let mut out = Vec::new();
        for_each_record(region, self.cd_offset, self.cd_records, |e| {
            if keep(&e.name) {
                out.push(e);
            }
        })
        .map_err(|e| match e {
            ZipError::Io(e) => e,
            ZipError::Format(m) | ZipError::Member { reason: m, .. } => {
                io::Error::new(io::ErrorKind::InvalidData, m)
            }
        })?;
        Ok(out)
    }

    /// Writes the staged members into the room before the central directory
    /// (moving the directory forward first when they do not fit), then their
    /// records after the directory's and new end records; `sync` also fsyncs.
    pub(crate) fn commit(&mut self, sync: bool) -> io::Result<()> {
        self.commit_with(sync, false)
    }

    /// Commits the staged members and closes the room: the archive ends with its
    /// last member, directory and end records, with nothing between them. Fsyncs.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.commit_with(true, true)
    }

    fn commit_with(&mut self, sync: bool, close: bool) -> io::Result<()> {
        let staged = std::mem::take(&mut self.staged);
        let headers: Vec<Vec<u8>> = staged.iter().map(|s| local_header(&s.entry)).collect();
        let members_len: u64 = staged
            .iter()
            .zip(&headers)
            .map(|(s, h)| (h.len() + s.data.len()) as u64)
            .sum();
        let needed = self.members_end + members_len;
        let cd_offset = if close {
            needed
        } else if needed > self.cd_offset || (members_len > 0 && self.cd_offset - needed < 4) {
            // Room for at least as many bytes as the move costs (the directory, its
            // end records), so moves add at most about the members' own bytes. Fewer
            // than 4 bytes left would leave no room for the marker below.
            needed + (self.cd_records + 120).max(MIN_ROOM)
        } else {
            self.cd_offset
        };
        let moved = if cd_offset == self.cd_offset {
            0
        } else {
            move_region(&self.file, self.cd_offset, self.cd_records, cd_offset)?;
            self.cd_records
        };
        let mut records = Vec::with_capacity(staged.len() * 80);
        if members_len > 0 {
            self.file.seek(SeekFrom::Start(self.members_end))?;
            let capacity = (members_len + 4).min(IO_CHUNK as u64) as usize;
            let mut w = BufWriter::with_capacity(capacity, &self.file);
            let mut offset = self.members_end;
            for (staged, header) in staged.into_iter().zip(headers) {
                let mut entry = staged.entry;
                entry.offset = offset;
                w.write_all(&header)?;
                w.write_all(&staged.data)?;
                offset += (header.len() + staged.data.len()) as u64;
                central_header(&entry, &entry.name, &mut records);
                self.count += 1;
            }
            // What follows the last member in the room is stale: start it with an end
            // record signature, where recovery's walk over local headers stops cleanly.
            if offset + 4 <= cd_offset {
                w.write_all(&EOCD_SIG.to_le_bytes())?;
            }
            w.flush()?;
        }
        let cd_records = self.cd_records + records.len() as u64;
        let end = end_records(self.count, cd_offset, cd_records);
        records.extend_from_slice(&end);
        self.file
            .seek(SeekFrom::Start(cd_offset + self.cd_records))?;
        self.file.write_all(&records)?;
        let total_end = cd_offset + cd_records + end.len() as u64;
        if total_end < self.len() {
            self.file.set_len(total_end)?;
        }
        if sync {
            self.file.sync_data()?;
        }
        self.bytes_written += members_len + moved + records.len() as u64;
        self.members_end = needed;
        self.cd_offset = cd_offset;
        self.cd_records = cd_records;
        self.cd_bytes = cd_records + end.len() as u64;
        Ok(())
    }

    /// Writes member `name` by streaming `fill`'s output through a deflate encoder
    /// (with a data descriptor), for members too large to hold in memory. Staged
    /// members are committed first.
    ///
    /// The member's size is not known until it is written, so it goes after the
    /// end records; the directory is then copied after it (with new end records:
    /// the archive is valid again), the member is moved back to where members
    /// end, and its record is appended. Everything is copied through a small
    /// buffer: memory does not grow with the member or the directory.
    pub(crate) fn stream_member(
        &mut self,
        name: &str,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        if !self.staged.is_empty() {
            self.commit(false)?;
        }
        let streamed_at = self.len();
        let mut entry = Entry {
            name: name.to_owned(),
            method: METHOD_DEFLATE,
            flags: FLAG_UTF8 | FLAG_DESCRIPTOR,
            crc: 0,
            compressed_size: 0,
            size: 0,
            offset: self.members_end,
            time: self.time,
            date: self.date,
        };
        let header = local_header(&entry);
        let (crc, size, compressed, desc) = {
            let mut file = &self.file;
            file.seek(SeekFrom::Start(streamed_at))?;
            let mut w = BufWriter::with_capacity(IO_CHUNK, file);
            w.write_all(&header)?;
            let counter = CountingWriter { inner: w, count: 0 };
            let mut tee = CrcWriter {
                inner: DeflateEncoder::new(counter, Compression::new(self.level)),
                crc: crc32fast::Hasher::new(),
                count: 0,
            };
            fill(&mut tee)?;
            let crc = tee.crc.finalize();
            let size = tee.count;
            let counter = tee.inner.finish()?;
            let compressed = counter.count;
            let mut w = counter.inner;
            if size >= U32_MAX || compressed >= U32_MAX {
                return Err(io::Error::other(format!(
                    "{name} exceeds 4 GiB, which a streamed member cannot hold"
                )));
            }
            let mut desc = Vec::with_capacity(16);
            put32(&mut desc, DESCRIPTOR_SIG);
            put32(&mut desc, crc);
            put32(&mut desc, compressed as u32);
            put32(&mut desc, size as u32);
            w.write_all(&desc)?;
            w.flush()?;
            (crc, size, compressed, desc)
        };
        entry.crc = crc;
        entry.size = size;
        entry.compressed_size = compressed;
        let written = header.len() as u64 + compressed + desc.len() as u64;
        // The directory, copied after the member, with end records: valid again
        // (without the member).
        let cd_offset = streamed_at + written;
        move_region(&self.file, self.cd_offset, self.cd_records, cd_offset)?;
        let end = end_records(self.count, cd_offset, self.cd_records);
        self.file
            .seek(SeekFrom::Start(cd_offset + self.cd_records))?;
        self.file.write_all(&end)?;
        self.bytes_written += written + self.cd_records + end.len() as u64;
        // The member moved back to where members end (over the old directory,
        // which nothing refers to any more), then its record.
        move_region(&self.file, streamed_at, written, self.members_end)?;
        let mut record = Vec::with_capacity(128);
        central_header(&entry, &entry.name, &mut record);
        self.count += 1;
        let cd_records = self.cd_records + record.len() as u64;
        let end = end_records(self.count, cd_offset, cd_records);
        record.extend_from_slice(&end);
        self.file
            .seek(SeekFrom::Start(cd_offset + self.cd_records))?;
        self.file.write_all(&record)?;
        self.bytes_written += written + record.len() as u64;
        self.members_end += written;
        if self.members_end + 4 <= cd_offset {
            self.file.seek(SeekFrom::Start(self.members_end))?;
            self.file.write_all(&EOCD_SIG.to_le_bytes())?;
        }
        self.cd_offset = cd_offset;
        self.cd_records = cd_records;
        self.cd_bytes = cd_records + end.len() as u64;
        Ok(())
    }
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct CrcWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
    count: u64,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn read_exact_at<R: Positioned + ?Sized>(file: &R, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// Reads the central directory of a complete archive.
pub(crate) fn read_central_directory<R: Positioned + ?Sized>(
    file: &R,
) -> Result<Vec<Entry>, ZipError> {
    let len = file.byte_len()?;
    if len < 22 {
        return Err(format_err(format!(
            "file is {len} bytes, shorter than an end of central directory record"
        )));
    }
    let tail_len = len.min(22 + 65_535 + 20 + 56);
    let tail = read_exact_at(file, len - tail_len, tail_len as usize)?;
    let eocd = (0..=tail.len() - 22)
        .rev()
        .find(|&i| {
            u32_at(&tail, i) == EOCD_SIG && i + 22 + u16_at(&tail, i + 20) as usize == tail.len()
        })
        .ok_or_else(|| format_err("no end of central directory record (truncated or not a zip)"))?;
    let mut count = u64::from(u16_at(&tail, eocd + 10));
    let mut cd_size = u64::from(u32_at(&tail, eocd + 12));
    let mut cd_offset = u64::from(u32_at(&tail, eocd + 16));
    if eocd >= 20 && u32_at(&tail, eocd - 20) == LOCATOR64_SIG {
        let rec_offset = u64_at(&tail, eocd - 12);
        if rec_offset.checked_add(56).is_none_or(|end| end > len) {
            return Err(format_err(
                "zip64 end record offset is past the end of the file",
            ));
        }
        let rec = read_exact_at(file, rec_offset, 56)?;
        if u32_at(&rec, 0) != EOCD64_SIG {
            return Err(format_err(
                "zip64 locator does not point at a zip64 end record",
            ));
        }
        count = u64_at(&rec, 32);
        cd_size = u64_at(&rec, 40);
        cd_offset = u64_at(&rec, 48);
    }
    if cd_offset.checked_add(cd_size).is_none_or(|end| end > len) {
        return Err(format_err(format!(
            "central directory ({cd_size} bytes at offset {cd_offset}) extends past the end of the {len}-byte file"
        )));
    }
    file.will_read(cd_offset..cd_offset + cd_size);
    let region = RegionReader {
        file,
        at: cd_offset,
        end: cd_offset + cd_size,
    };
    let mut entries = Vec::with_capacity(count.min(1 << 20) as usize);
    for_each_record(region, cd_offset, cd_size, |e| entries.push(e))?;
    if entries.len() as u64 != count {
        return Err(format_err(format!(
            "central directory holds {} records, end record says {count}",
            entries.len()
        )));
    }
    Ok(entries)
}

/// Replaces saturated sizes/offset with the zip64 extra field's values.
fn apply_zip64_extra(mut extra: &[u8], e: &mut Entry, has_offset: bool) {
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let len = (u16_at(extra, 2) as usize).min(extra.len() - 4);
        let body = &extra[4..4 + len];
        if id == 0x0001 {
            let mut at = 0;
            let mut next = |field: &mut u64| {
                if *field == U32_MAX && at + 8 <= body.len() {
                    *field = u64_at(body, at);
                    at += 8;
                }
            };
            next(&mut e.size);
            next(&mut e.compressed_size);
            if has_offset {
                next(&mut e.offset);
            }
        }
        extra = &extra[4 + len..];
    }
}

/// Reads, decompresses and CRC-checks one member.
pub(crate) fn read_entry<R: Positioned + ?Sized>(
    file: &R,
    e: &Entry,
    file_len: u64,
) -> Result<Vec<u8>, ZipError> {
    let member = |reason: String| ZipError::Member {
        name: e.name.clone(),
        reason,
    };
    if e.offset.checked_add(30).is_none_or(|end| end > file_len) {
        return Err(member(format!(
            "local header offset {} is past the end of the file",
            e.offset
        )));
    }
    let header = read_exact_at(file, e.offset, 30)?;
    if u32_at(&header, 0) != LOCAL_SIG {
        return Err(member(format!("no local header at offset {}", e.offset)));
    }
    let data_start =
        e.offset + 30 + u64::from(u16_at(&header, 26)) + u64::from(u16_at(&header, 28));
    if data_start
        .checked_add(e.compressed_size)
        .is_none_or(|end| end > file_len)
    {
        return Err(member(format!(
            "{} compressed bytes at offset {data_start} run past the end of the file",
            e.compressed_size
        )));
    }
    if e.size > MAX_MEMBER_SIZE {
        return Err(member(format!("uncompressed size {} is too large", e.size)));
    }
    let raw = read_exact_at(file, data_start, e.compressed_size as usize)?;
    let data = decompress(e.method, &raw, e.size).map_err(member)?;
    if data.len() as u64 != e.size {
        return Err(member(format!(
            "decompressed to {} bytes, expected {}",
            data.len(),
            e.size
        )));
    }
    if crc32fast::hash(&data) != e.crc {
        return Err(member("CRC-32 mismatch".into()));
    }
    Ok(data)
}

/// Decompresses `raw` (method `method`), refusing output beyond `expected` bytes.
pub(crate) fn decompress(method: u16, raw: &[u8], expected: u64) -> Result<Vec<u8>, String> {
    // Reason: sizes come from the file; never reserve more than the data could
    // plausibly inflate to before seeing it do so.
    let cap = expected.min(raw.len() as u64 * 8 + 4096).min(64 << 20) as usize;
    match method {
        METHOD_STORED => Ok(raw.to_vec()),
        METHOD_DEFLATE => {
            let mut out = Vec::with_capacity(cap);
            DeflateDecoder::new(raw)
                .take(expected + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("invalid deflate data: {e}"))?;
            Ok(out)
        }
        METHOD_ZSTD => zstd_decompress(raw, expected),
        other => Err(format!("unsupported compression method {other}")),
    }
}

fn zstd_decompress(raw: &[u8], expected: u64) -> Result<Vec<u8>, String> {
    use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
    // Reason: ruzstd is a decoder of untrusted input; a panic inside it must not
    // take the reader down, so it is contained and reported as a bad member.
    let result = std::panic::catch_unwind(|| -> Result<Vec<u8>, String> {
        let mut out =
            Vec::with_capacity(expected.min(raw.len() as u64 * 8 + 4096).min(64 << 20) as usize);
        let mut input = raw;
        let mut dec = FrameDecoder::new();
        // Inspect writes multi-frame members (one frame per 200 MiB of input).
        while !input.is_empty() {
            dec.init(&mut input)
                .map_err(|e| format!("invalid zstd frame: {e}"))?;
            loop {
                dec.decode_blocks(&mut input, BlockDecodingStrategy::UptoBytes(1 << 20))
                    .map_err(|e| format!("invalid zstd data: {e}"))?;
                dec.collect_to_writer(&mut out)
                    .map_err(|e| format!("zstd: {e}"))?;
                if out.len() as u64 > expected {
                    return Err(format!(
                        "zstd data inflates beyond the declared {expected} bytes"
                    ));
                }
                if dec.is_finished() {
                    dec.collect_to_writer(&mut out)
                        .map_err(|e| format!("zstd: {e}"))?;
                    break;
                }
            }
        }
        Ok(out)
    });
    result.unwrap_or_else(|_| Err("zstd decoder failed on corrupt data".into()))
}

/// What [`scan_local_headers`] found.
pub(crate) struct Scan {
    /// Every member whose data and CRC checked out, in file order.
    pub(crate) entries: Vec<Entry>,
    /// Why the scan stopped (`None` when it reached a central directory).
    pub(crate) stopped: Option<String>,
}

/// Walks local headers from offset 0, verifying each member's data, and stops at
/// the first truncated or invalid one (or at the central directory).
pub(crate) fn scan_local_headers(file: &File) -> io::Result<Scan> {
    let len = file.metadata()?.len();
    let mut entries = Vec::new();
    let mut at = 0u64;
    loop {
        if at + 4 > len {
            let stopped = (at != len).then(|| format!("truncated at offset {at}"));
            return Ok(Scan { entries, stopped });
        }
        let sig = u32_at(&read_exact_at(file, at, 4)?, 0);
        if sig == CENTRAL_SIG || sig == EOCD_SIG || sig == EOCD64_SIG {
            return Ok(Scan {
                entries,
                stopped: None,
            });
        }
        match scan_one(file, at, len)? {
            Ok((entry, next)) => {
                entries.push(entry);
                at = next;
            }
            Err(reason) => {
                return Ok(Scan {
                    entries,
                    stopped: Some(format!("offset {at}: {reason}")),
                })
            }
        }
    }
}

/// Verifies the member at `at`; returns it and the offset after it.
fn scan_one(file: &File, at: u64, len: u64) -> io::Result<Result<(Entry, u64), String>> {
    if at + 30 > len {
        return Ok(Err("truncated local header".into()));
    }
    let h = read_exact_at(file, at, 30)?;
    if u32_at(&h, 0) != LOCAL_SIG {
        return Ok(Err("no local header signature".into()));
    }
    let name_len = u64::from(u16_at(&h, 26));
    let extra_len = u64::from(u16_at(&h, 28));
    if at + 30 + name_len + extra_len > len {
        return Ok(Err("truncated local header".into()));
    }
    let tail = read_exact_at(file, at + 30, (name_len + extra_len) as usize)?;
    let Ok(name) = String::from_utf8(tail[..name_len as usize].to_vec()) else {
        return Ok(Err("member name is not UTF-8".into()));
    };
    let mut e = Entry {
        name,
        method: u16_at(&h, 8),
        flags: u16_at(&h, 6),
        crc: u32_at(&h, 14),
        compressed_size: u64::from(u32_at(&h, 18)),
        size: u64::from(u32_at(&h, 22)),
        offset: at,
        time: u16_at(&h, 10),
        date: u16_at(&h, 12),
    };
    apply_zip64_extra(&tail[name_len as usize..], &mut e, false);
    let data_start = at + 30 + name_len + extra_len;
    if e.flags & FLAG_DESCRIPTOR != 0 {
        return Ok(scan_streamed(file, e, data_start, len));
    }
    if data_start
        .checked_add(e.compressed_size)
        .is_none_or(|end| end > len)
    {
        return Ok(Err(format!("member {} is truncated", e.name)));
    }
    if e.size > MAX_MEMBER_SIZE {
        return Ok(Err(format!("member {} is too large", e.name)));
    }
    let raw = read_exact_at(file, data_start, e.compressed_size as usize)?;
    match decompress(e.method, &raw, e.size) {
        Ok(data) if data.len() as u64 == e.size && crc32fast::hash(&data) == e.crc => {
            Ok(Ok((e, data_start + raw.len() as u64)))
        }
        Ok(_) => Ok(Err(format!(
            "member {} fails its size or CRC check",
            e.name
        ))),
        Err(reason) => Ok(Err(format!("member {}: {reason}", e.name))),
    }
}

/// A member written with a data descriptor: inflate it to find where it ends,
/// then check the descriptor.
fn scan_streamed(
    file: &File,
    mut e: Entry,
    data_start: u64,
    len: u64,
) -> Result<(Entry, u64), String> {
    if e.method != METHOD_DEFLATE {
        return Err(format!(
            "member {} has a data descriptor and is not deflated",
            e.name
        ));
    }
    let mut f = file;
    f.seek(SeekFrom::Start(data_start))
        .map_err(|e| e.to_string())?;
    let limited = std::io::BufReader::new(f.take(len - data_start));
    let mut dec = flate2::bufread::DeflateDecoder::new(limited);
    let mut hasher = crc32fast::Hasher::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = dec
            .read(&mut buf)
            .map_err(|err| format!("member {}: {err}", e.name))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        if size > MAX_MEMBER_SIZE {
            return Err(format!("member {} is too large", e.name));
        }
    }
    let compressed = dec.total_in();
    let desc_at = data_start + compressed;
    if desc_at + 16 > len {
        return Err(format!("member {} has no data descriptor", e.name));
    }
    let desc = read_exact_at(file, desc_at, 16).map_err(|e| e.to_string())?;
    let crc = hasher.finalize();
    if u32_at(&desc, 0) != DESCRIPTOR_SIG
        || u32_at(&desc, 4) != crc
        || u64::from(u32_at(&desc, 8)) != compressed
        || u64::from(u32_at(&desc, 12)) != size
    {
        return Err(format!("member {} fails its data descriptor check", e.name));
    }
    e.crc = crc;
    e.size = size;
    e.compressed_size = compressed;
    Ok((e, desc_at + 16))
}

/// MS-DOS date and time of `t` (UTC) for zip headers: `(time, date)`.
pub(crate) fn dos_datetime(t: std::time::SystemTime) -> (u16, u16) {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let ((y, m, d), sod) = examen_types::time::civil_from_unix(secs);
    if y < 1980 {
        return (0, (1 << 5) | 1);
    }
    let time = ((sod / 3600) << 11) | ((sod / 60 % 60) << 5) | (sod % 60 / 2);
    let date = ((y - 1980) << 9) | (m << 5) | d;
    (time as u16, date as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(file: &File) -> Vec<(String, Vec<u8>)> {
        let len = file.metadata().unwrap().len();
        read_central_directory(file)
            .unwrap()
            .iter()
            .map(|e| (e.name.clone(), read_entry(file, e, len).unwrap()))
            .collect()
    }

    #[test]
    fn commits_append_and_rewrite_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        let mut z = ZipAppender::create(&path, 6).unwrap();
        z.stage("one.json", b"{\"a\":1}");
        z.commit(false).unwrap();
        let first_len = z.len();
        z.stage("two.json", &b"x".repeat(10_000));
        z.commit(true).unwrap();
        assert!(z.len() > first_len);
        z.stream_member("three.json", |w: &mut dyn Write| w.write_all(b"[1,2,3]"))
            .unwrap();
        z.finish().unwrap();
        // a finished archive has no room left before its directory
        assert_eq!(z.members_end, z.cd_offset);
        let file = File::open(&path).unwrap();
        let got = members(&file);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("one.json".to_owned(), b"{\"a\":1}".to_vec()));
        assert_eq!(got[1].1.len(), 10_000);
        assert_eq!(got[2], ("three.json".to_owned(), b"[1,2,3]".to_vec()));
        let scan = scan_local_headers(&file).unwrap();
        assert_eq!(scan.stopped, None);
        assert_eq!(scan.entries.len(), 3);
        assert_eq!(scan.entries, read_central_directory(&file).unwrap());
        // earlier directories were overwritten, so more was written than remains
        assert!(z.bytes_written() > std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn directory_moves_on_disk_across_many_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moves.zip");
        let mut z = ZipAppender::create(&path, 1).unwrap();
        let mut expected = Vec::new();
        // Commits of one small member move a directory much larger than the
        // member (overlapping copy); larger commits move it past its old end.
        for i in 0..400u32 {
            let members = if i % 50 == 0 { 30 } else { 1 };
            for j in 0..members {
                let name = format!("samples/{i}_{j}.json");
                let body = format!("{{\"i\":{i},\"j\":{j}}}").repeat(1 + (i as usize % 7));
                z.stage(&name, body.as_bytes());
                expected.push((name, body.into_bytes()));
            }
            if i % 3 == 0 {
                z.stage(&format!("_journal/{i}.json"), b"[]");
                expected.push((format!("_journal/{i}.json"), b"[]".to_vec()));
            }
            z.commit(false).unwrap();
            assert_eq!(z.len(), std::fs::metadata(&path).unwrap().len());
        }
        z.stream_member("streamed.json", |w: &mut dyn Write| w.write_all(b"[1]"))
            .unwrap();
        expected.push(("streamed.json".to_owned(), b"[1]".to_vec()));
        z.stage("last.json", b"{}");
        expected.push(("last.json".to_owned(), b"{}".to_vec()));
        z.commit(true).unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(members(&file), expected);
        let scan = scan_local_headers(&file).unwrap();
        assert_eq!(scan.stopped, None);
        assert_eq!(scan.entries, read_central_directory(&file).unwrap());
        let journal: Vec<String> = z
            .entries_where(|n| n.starts_with("_journal/"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        let want: Vec<String> = (0..400)
            .filter(|i| i % 3 == 0)
            .map(|i| format!("_journal/{i}.json"))
            .collect();
        assert_eq!(journal, want);
    }

    #[test]
    fn zip64_end_records_when_many_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.zip");
        let mut z = ZipAppender::create(&path, 1).unwrap();
        for i in 0..70_000u32 {
            z.stage(&format!("m{i}"), &i.to_le_bytes());
        }
        z.commit(false).unwrap();
        let file = File::open(&path).unwrap();
        let entries = read_central_directory(&file).unwrap();
        assert_eq!(entries.len(), 70_000);
        let len = file.metadata().unwrap().len();
        assert_eq!(
            read_entry(&file, &entries[69_999], len).unwrap(),
            69_999u32.to_le_bytes()
        );
    }

    #[test]
    fn zip64_extra_fields_roundtrip() {
        let e = Entry {
            name: "big".into(),
            method: METHOD_DEFLATE,
            flags: FLAG_UTF8,
            crc: 7,
            compressed_size: 5 << 30,
            size: 6 << 30,
            offset: 7 << 30,
            time: 0,
            date: 0,
        };
        let mut cd = Vec::new();
        central_header(&e, &e.name, &mut cd);
        let name_len = u16_at(&cd, 28) as usize;
        let extra_len = u16_at(&cd, 30) as usize;
        let mut back = e.clone();
        back.size = u64::from(u32_at(&cd, 24));
        back.compressed_size = u64::from(u32_at(&cd, 20));
        back.offset = u64::from(u32_at(&cd, 42));
        apply_zip64_extra(
            &cd[46 + name_len..46 + name_len + extra_len],
            &mut back,
            true,
        );
        assert_eq!(back, e);
        let local = local_header(&e);
        let mut back = e.clone();
        back.size = u64::from(u32_at(&local, 22));
        back.compressed_size = u64::from(u32_at(&local, 18));
        apply_zip64_extra(&local[30 + 3..], &mut back, false);
        assert_eq!(
            (back.size, back.compressed_size),
            (e.size, e.compressed_size)
        );
    }

    #[test]
    fn dos_datetime_packs_fields() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000); // 2023-11-14 22:13:20
        let (time, date) = dos_datetime(t);
        assert_eq!(time, (22 << 11) | (13 << 5) | 10);
        assert_eq!(date, ((2023 - 1980) << 9) | (11 << 5) | 14);
    }
}
