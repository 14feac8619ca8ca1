//! `airisk-nats publish`: event lines into the partitioned event stream.
//!
//! Each line is checked with the core parser ([`airisk::replay::parse_line`]): a line that
//! `airisk replay` would reject as malformed is reported on stderr with its line number and
//! skipped, exactly as `airisk replay` does; lines the engine may still reject (an unknown
//! system, a stale observation) are published and reported by the worker that applies them.
//! [`crate::route`] gives the line's partitions.
//!
//! **Order and exactly-once storage.** Messages are published in log order with up to
//! `in_flight` acknowledgements outstanding. Every message carries `Nats-Msg-Id`
//! `<run>:<line>:<partition>` and `Nats-Expected-Last-Msg-Id` naming the message before it,
//! so the server stores a message only right after its predecessor: the stream is always an
//! exact, ordered prefix of what this run publishes, whatever the server or the connection
//! does. When an acknowledgement fails (a server restart, a timeout), the publisher waits for
//! the server, reads the stream's last message, and publishes again from the message after
//! it; nothing is stored twice and nothing is skipped. One publisher at a time may write to
//! the stream (a second one breaks the chain and both report it).

use crate::setup::{Deployment, SetupOptions};
use crate::{LINES_HEADER, events_subject, log, route};
use airisk::replay::{MAX_LINE_BYTES, parse_line};
use anyhow::{Context as _, anyhow, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::time::{Duration, Instant};

/// Options of a publish run.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Partition count.
    pub partitions: u32,
    /// Most messages whose acknowledgement is outstanding.
    pub in_flight: usize,
    /// Most lines per message (1: one message per line and partition). A message carries
    /// consecutive lines of one partition, newline-separated, in log order.
    pub batch: usize,
    /// Most payload bytes per message (a longer line travels alone).
    pub batch_bytes: usize,
    /// A partly filled message waits at most this long for more lines (matters for a live
    /// feed on standard input; a file is read faster than that).
    pub linger: Duration,
    /// Prefix of message ids; unique per run unless given (to resume a run that died, give
    /// the same id again within the duplicate window).
    pub run_id: String,
    /// How long to keep retrying when the server is unreachable before giving up.
    pub retry_for: Duration,
    /// Name for logs (the source file).
    pub source: String,
}

impl PublishOptions {
    /// Defaults for `source`.
    pub fn new(source: &str) -> PublishOptions {
        PublishOptions {
            partitions: crate::DEFAULT_PARTITIONS,
            in_flight: 4096,
            batch: 64,
            batch_bytes: 256 * 1024,
            linger: Duration::from_millis(5),
            run_id: default_run_id(),
            retry_for: Duration::from_secs(120),
            source: source.to_owned(),
        }
    }
}

/// What a publish run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Lines read (blank ones included).
    pub lines: u64,
    /// Event lines published.
    pub events: u64,
    /// Lines rejected (reported on stderr) and not published.
    pub rejected: u64,
    /// Messages stored in the stream.
    pub messages: u64,
    /// Messages published again after a failed acknowledgement.
    pub resent: u64,
    /// Of those, messages the server had already stored (duplicates it dropped).
    pub duplicates: u64,
    /// Recoveries from failed acknowledgements.
    pub recoveries: u64,
}

struct Unit {
    subject: String,
    payload: Bytes,
    lines: String,
    id: String,
}

/// Most rejected lines printed one by one.
const MAX_PRINTED: u64 = 1000;

/// Lines read by the reader thread: (line number, bytes without the terminator), or a read
/// error.
type Chunk = std::io::Result<Vec<(u64, Vec<u8>)>>;

/// Reads `input` on its own thread (a blocking read must not stall acknowledgements), in
/// chunks of lines.
fn reader<R: Read + Send + 'static>(input: R) -> tokio::sync::mpsc::Receiver<Chunk> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(16);
    std::thread::spawn(move || {
        let mut input = std::io::BufReader::with_capacity(1 << 18, input);
        let mut n = 0u64;
        loop {
            let mut chunk = Vec::with_capacity(256);
            let mut bytes = 0;
            let mut eof = false;
            while chunk.len() < 256 && bytes < 1 << 20 {
                let mut buf = Vec::new();
                match read_line(&mut input, &mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(k) => {
                        n += 1;
                        bytes += k;
                        if buf.last() == Some(&b'\n') {
                            buf.pop();
                        }
                        if buf.last() == Some(&b'\r') {
                            buf.pop();
                        }
                        chunk.push((n, buf));
                        // A live feed: hand over what we have when nothing more is buffered
                        // (without waiting for the next read).
                        if input.buffer().is_empty() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
            if !chunk.is_empty() && tx.blocking_send(Ok(chunk)).is_err() {
                return;
            }
            if eof {
                return;
            }
        }
    });
    rx
}

/// Publishes the event log `input` (see the [module docs](self)).
///
/// # Errors
/// I/O errors reading `input`, a server that stays unreachable for `retry_for`, or a stream
/// that does not hold what this run published (another publisher, lost messages).
pub async fn publish<R: Read + Send + 'static>(
    dep: &Deployment,
    input: R,
    o: &PublishOptions,
) -> anyhow::Result<PublishReport> {
    let mut p = Publisher {
        dep,
        o,
        window: VecDeque::new(),
        acks: FuturesOrdered::new(),
        last_id: None,
        report: PublishReport::default(),
    };
    p.start().await?;
    let partitions = o.partitions;
    let batch = o.batch.max(1);
    // Room for the headers under the server's limit.
    let max_payload = dep.js.client().max_payload().saturating_sub(512);
    let batch_bytes = o.batch_bytes.min(max_payload).max(1);
    let mut pending: Vec<Pending> = (0..partitions).map(|_| Pending::default()).collect();
    let mut waiting = 0usize;
    let mut rx = reader(input);
    let mut printed = 0u64;
    loop {
        let chunk = if waiting > 0 {
            match tokio::time::timeout(o.linger, rx.recv()).await {
                Ok(c) => c,
                Err(_) => {
                    // Nothing new for `linger`: send the partly filled messages.
                    for (part, slot) in pending.iter_mut().enumerate() {
                        if slot.lines > 0 {
                            let s = std::mem::take(slot);
                            p.send(part as u32, s.payload, s.numbers).await?;
                        }
                    }
                    waiting = 0;
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(chunk) = chunk else { break };
        let chunk = chunk.with_context(|| format!("reading {}", o.source))?;
        for (line_no, line) in chunk {
            p.report.lines = line_no;
            let line = &line[..];
            let checked = if line.len() > MAX_LINE_BYTES {
                Err(format!(
                    "too_long: line is {} bytes long; at most {MAX_LINE_BYTES} are accepted",
                    line.len()
                ))
            } else if line.len() > max_payload {
                Err(format!(
                    "too_long: line is {} bytes long; the server takes messages of at most {} bytes (its max_payload)",
                    line.len(),
                    max_payload
                ))
            } else {
                match parse_line(line) {
                    Ok(None) => continue,
                    Ok(Some(_)) => route(line).map(|r| r.partitions(partitions)),
                    Err(e) => Err(format!("{}: {}", e.kind, e.message)),
                }
            };
            let targets = match checked {
                Ok(t) => t,
                Err(msg) => {
                    p.report.rejected += 1;
                    printed += 1;
                    if printed <= MAX_PRINTED {
                        eprintln!("{}:{line_no}: line {line_no}: {msg}", o.source);
                    } else if printed == MAX_PRINTED + 1 {
                        eprintln!(
                            "{}: more than {MAX_PRINTED} rejected lines; the rest are only counted",
                            o.source
                        );
                    }
                    continue;
                }
            };
            p.report.events += 1;
            for part in targets {
                let slot = &mut pending[part as usize];
                if slot.lines > 0 && slot.payload.len() + 1 + line.len() > batch_bytes {
                    let s = std::mem::take(slot);
                    p.send(part, s.payload, s.numbers).await?;
                }
                let slot = &mut pending[part as usize];
                if slot.lines > 0 {
                    slot.payload.push(b'\n');
                    slot.numbers.push(',');
                } else {
                    waiting += 1;
                }
                slot.payload.extend_from_slice(line);
                slot.numbers.push_str(&line_no.to_string());
                slot.lines += 1;
                if slot.lines >= batch {
                    let s = std::mem::take(slot);
                    p.send(part, s.payload, s.numbers).await?;
                }
            }
        }
    }
    for (part, slot) in pending.iter_mut().enumerate() {
        if slot.lines > 0 {
            let s = std::mem::take(slot);
            p.send(part as u32, s.payload, s.numbers).await?;
        }
    }
    p.finish().await?;
    Ok(p.report)
}

/// A message being filled for one partition.
#[derive(Default)]
struct Pending {
    payload: Vec<u8>,
    numbers: String,
    lines: usize,
}

fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    loop {
        match r.read_until(b'\n', buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            x => return x,
        }
    }
}

/// A publish acknowledgement to come.
pub(crate) type AckFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<
                    async_nats::jetstream::publish::PublishAck,
                    async_nats::jetstream::context::PublishError,
                >,
            > + Send,
    >,
>;

struct Publisher<'a> {
    dep: &'a Deployment,
    o: &'a PublishOptions,
    /// Messages sent and not yet acknowledged, oldest first.
    window: VecDeque<Unit>,
    acks: FuturesOrdered<AckFuture>,
    /// Id of the last message known stored (the chain's anchor), if any.
    last_id: Option<String>,
    report: PublishReport,
}

impl Publisher<'_> {
    /// Reads the stream's last message id: the first message of this run chains to it.
    async fn start(&mut self) -> anyhow::Result<()> {
        let (_, id) = self.stream_last().await?;
        self.last_id = id;
        Ok(())
    }

    /// The stream's last sequence and the message id of its last message.
    async fn stream_last(&self) -> anyhow::Result<(u64, Option<String>)> {
        let mut s = self.dep.events.clone();
        let info = s.info().await.context("reading the event stream's state")?;
        let last = info.state.last_sequence;
        if last == 0 || info.state.messages == 0 {
            return Ok((last, None));
        }
        let m = self
            .dep
            .events
            .get_raw_message(last)
            .await
            .with_context(|| format!("reading the event stream's last message (seq {last})"))?;
        let id = m
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|v| v.as_str().to_owned());
        Ok((last, id))
    }

    fn build(&self, u: &Unit, chain: bool, prev: Option<&str>) -> anyhow::Result<PublishMessage> {
        let mut h = HeaderMap::new();
        h.insert(async_nats::header::NATS_MESSAGE_ID, u.id.as_str());
        if let (true, Some(prev)) = (chain, prev) {
            h.insert(async_nats::header::NATS_EXPECTED_LAST_MESSAGE_ID, prev);
        }
        h.insert(LINES_HEADER, u.lines.as_str());
        Ok(PublishMessage::build()
            .payload(u.payload.clone())
            .headers(h))
    }

    async fn send_unit(&mut self, u: Unit, chain: bool) -> anyhow::Result<()> {
        let prev = self
            .window
            .back()
            .map(|w| w.id.clone())
            .or(self.last_id.clone());
        let msg = self.build(&u, chain, prev.as_deref())?;
        let fut = match self.dep.js.send_publish(u.subject.clone(), msg).await {
            Ok(f) => f,
            Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                bail!(
                    "line(s) {} do not fit the server's max_payload ({} bytes): {e}",
                    u.lines,
                    u.payload.len()
                )
            }
            // Not even queued (connection closed): recover as for a failed ack.
            Err(_) => {
                self.window.push_back(u);
                self.acks.push_back(Box::pin(async {
                    Err(async_nats::jetstream::context::PublishError::new(
                        PublishErrorKind::BrokenPipe,
                    ))
                }));
                return Ok(());
            }
        };
        self.window.push_back(u);
        self.acks.push_back(Box::pin(ack(fut)));
        Ok(())
    }

    async fn send(&mut self, part: u32, payload: Vec<u8>, lines: String) -> anyhow::Result<()> {
        let first = lines.split(',').next().unwrap_or("0").to_owned();
        let u = Unit {
            subject: events_subject(part),
            payload: Bytes::from(payload),
            id: format!("{}:{first}:{part}", self.o.run_id),
            lines,
        };
        self.send_unit(u, true).await?;
        while self.window.len() >= self.o.in_flight.max(1) {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// Waits for the oldest outstanding acknowledgement; recovers if it failed.
    async fn settle_one(&mut self) -> anyhow::Result<()> {
        let Some(r) = self.acks.next().await else {
            return Ok(());
        };
        match r {
            Ok(ack) => {
                let u = self.window.pop_front().expect("one unit per ack");
                if ack.duplicate {
                    self.report.duplicates += 1;
                } else {
                    self.report.messages += 1;
                }
                self.last_id = Some(u.id);
                Ok(())
            }
            Err(e) => self.recover(e.to_string()).await,
        }
    }

    async fn finish(&mut self) -> anyhow::Result<()> {
        while !self.window.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// After a failed acknowledgement: drop every outstanding one, wait for the server, find
    /// the last message it stored, and publish again from the one after it.
    async fn recover(&mut self, why: String) -> anyhow::Result<()> {
        self.report.recoveries += 1;
        let who = format!("publish {}", self.o.source);
        log(
            &who,
            &format!(
                "acknowledgement failed ({why}); {} messages outstanding, recovering",
                self.window.len()
            ),
        );
        self.acks = FuturesOrdered::new();
        let deadline = Instant::now() + self.o.retry_for;
        let mut headerless = false;
        loop {
            // Let queued publishes reach the server (or fail) before reading its state.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let (_, last) = match self.stream_last().await {
                Ok(x) => x,
                Err(e) => {
                    if Instant::now() > deadline {
                        bail!("giving up after {:?}: {e:#}", self.o.retry_for);
                    }
                    continue;
                }
            };
            // Which of the outstanding messages did the server store?
            let stored = match &last {
                Some(id) if Some(id) == self.last_id.as_ref() => 0,
                Some(id) => match self.window.iter().position(|u| u.id == *id) {
                    Some(i) => i + 1,
                    None => bail!(
                        "the event stream's last message is {id:?}, which this run did not publish after {:?}: another publisher is writing to the stream, or the server lost acknowledged messages",
                        self.last_id
                    ),
                },
                None if self.last_id.is_none() => 0,
                None => bail!(
                    "the event stream is empty although it acknowledged {:?}: the server lost acknowledged messages",
                    self.last_id
                ),
            };
            for _ in 0..stored {
                let u = self.window.pop_front().expect("counted");
                self.report.messages += 1;
                self.last_id = Some(u.id);
            }
            let resend: Vec<Unit> = self.window.drain(..).collect();
            self.report.resent += resend.len() as u64;
            log(
                &who,
                &format!(
                    "server holds through {:?}; publishing {} messages again",
                    self.last_id,
                    resend.len()
                ),
            );
            if resend.is_empty() {
                return Ok(());
            }
            // The first message after a server restart may find the server without its
            // record of the last message id (it rebuilds it only within the duplicate
            // window); having just read the stream's last message ourselves, we may send
            // that one message unchained.
            let mut first = true;
            for u in resend {
                let chain = !(first && headerless);
                first = false;
                self.send_unit(u, chain).await?;
            }
            // Wait for the first one: if the chain is refused at once, retry unchained.
            match self.acks.next().await {
                Some(Ok(ack)) => {
                    let u = self.window.pop_front().expect("one unit per ack");
                    if ack.duplicate {
                        self.report.duplicates += 1;
                    } else {
                        self.report.messages += 1;
                    }
                    self.last_id = Some(u.id);
                    return Ok(());
                }
                Some(Err(e)) => {
                    if Instant::now() > deadline {
                        bail!("giving up after {:?}: {e}", self.o.retry_for);
                    }
                    if e.kind() == PublishErrorKind::WrongLastMessageId {
                        headerless = true;
                    }
                    log(&who, &format!("publishing again failed ({e}); retrying"));
                    self.acks = FuturesOrdered::new();
                }
                None => return Ok(()),
            }
        }
    }
}

async fn ack(
    f: PublishAckFuture,
) -> Result<async_nats::jetstream::publish::PublishAck, async_nats::jetstream::context::PublishError>
{
    f.await
}

/// Options for the `publish` command, from flags.
pub fn setup_options(partitions: u32, policy_fingerprint: u64) -> SetupOptions {
    SetupOptions {
        partitions,
        policy_fingerprint,
        ..SetupOptions::default()
    }
}

/// A run id unique enough for message ids: the time and the process id.
pub fn default_run_id() -> String {
    format!("r{:x}{:x}", crate::unix_us(), std::process::id())
}

/// Checks that a run id is usable in message ids.
///
/// # Errors
/// When it is empty or holds `:` or a control character.
pub fn check_run_id(id: &str) -> anyhow::Result<()> {
    if id.is_empty() || id.contains(':') || id.chars().any(char::is_control) {
        return Err(anyhow!(
            "--run-id must be non-empty, without ':' or control characters"
        ));
    }
    Ok(())
}
