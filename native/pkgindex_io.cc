// pkgindex's native connection layer (ADR 0019, `--io native`): epoll threads that accept,
// read, frame lines and write replies, around the one JavaScript thread that owns the index.
//
// Each I/O thread owns its connections outright (no locks on the hot path): it reads every
// ready connection once per turn (at most READ_BYTES each, or its slice of the ring's arena,
// so a flooding client gets one read per turn like everyone else), cuts complete lines, and
// at the end of the turn hands the turn's lines to JavaScript as one batch through a
// thread-safe function. The owner executes the batch in its serial order and answers with one
// reply byte per line (`reply()`), in the order of the batches; the answer is queued for the
// thread, which is woken through an eventfd, renders the replies and writes each
// connection's once.
//
// A turn's reads, and its replies' writes, go to the kernel in one io_uring submission each
// where two or more connections are ready (socket_ring.h, ADR 0023): one system call instead
// of one per connection, each completed during the submission as the non-blocking call would
// be. Where the kernel refuses a ring, or with --io-uring=false, the plain calls.
//
// In inline mode (what the server uses) thread 0 is no thread: the owner's own event loop
// serves its connections, executing each turn's batch in the same callback, with no hop; the
// other threads, if any, are epoll threads as above. Accepted connections go to the threads in
// turn, whichever thread accepted them (`place`).
//
// The protocol itself (parsing, validation, the graph's rules) stays in JavaScript: a line is
// passed on as the bytes the client sent, and the owner parses it with the one parser. A line
// longer than the limit is passed on as an empty line, which the parser answers ERROR.
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "socket_ring.h"

namespace {

// Bumped whenever the JavaScript side's expectations change (src/native/addon.ts checks it).
constexpr int32_t ABI_VERSION = 9;
constexpr size_t READ_BYTES = 64 * 1024;
// A connection's reply buffer is kept between writes up to this size, and given back beyond.
constexpr size_t KEEP_BYTES = 4 * 1024;
// A batch's lines and spans reach JavaScript in views of one ArrayBuffer per thread, reused
// batch after batch, up to this size; a bigger batch gets buffers of its own, not kept.
constexpr size_t INBOX_KEEP_BYTES = 1024 * 1024;
constexpr int MAX_EVENTS = 256;
// A turn's reads through the ring land in one arena of this size, a slice per connection
// (READ_BYTES at most, RING_SLICE_MIN at least; more connections than fit go in more rounds).
constexpr size_t RING_ARENA_BYTES = 256 * 1024;
constexpr size_t RING_SLICE_MIN = 4 * 1024;
constexpr unsigned RING_ENTRIES = 256;
constexpr uint64_t LISTEN_TAG = ~0ull;
constexpr uint64_t WAKE_TAG = ~0ull - 1;
constexpr uint8_t REPLY_ERROR = 2;
// In a first answer: this line's reply waits for its client's barrier (a second answer).
constexpr uint8_t REPLY_HELD = 3;
constexpr size_t MAX_REPLY_BYTES = 6;
const char* const REPLY_TEXT[] = {"OK\n", "FAIL\n", "ERROR\n"};
const size_t REPLY_LENGTH[] = {3, 5, 6};

// Counters of one thread, read by stats() from the JavaScript thread.
enum Counter {
  C_OPEN,
  C_TOTAL,
  C_REFUSED,
  C_REFUSED_PER_PEER,
  C_IDLE_CLOSED,
  C_BYTES_IN,
  C_BYTES_OUT,
  C_LINES_TOO_LONG,
  C_ACCEPT_ERRORS,
  C_BATCHES,
  C_BATCHED_COMMANDS,
  C_REPLIES_FAILED,
  C_RING_CALLS,  // io_uring_enter calls that carried a turn's reads or writes
  C_REFUSED_DESCRIPTORS,  // past the connections the descriptors leave room for
  C_COUNT
};

int64_t nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

double nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

struct Options {
  int threads = 1;
  size_t maxLineBytes = 64 * 1024;
  int64_t maxConnections = 10000;
  // Connections the process's descriptor limit leaves room for, beside the store's files (the
  // owner measures it at listen); past it a connection is refused, not accept()ed into EMFILE.
  int64_t descriptorConnections = INT64_MAX;
  int64_t maxConnectionsPerPeer = 0;
  size_t outputHighWaterBytes = 64 * 1024;
  int64_t idleTimeoutMs = 0;
  // Batches a thread hands over before the owner has answered them; while at the limit, the
  // lines read meanwhile gather into the next batch (fewer, larger batches: fewer wake-ups).
  size_t batchesInFlight = 1;
  // Lines one connection may add to one batch (its share of a turn, as --slice-us is for
  // Node's sockets); the rest of what it sent waits, read but not framed, for the next turns.
  size_t linesPerTurn = 256;
  // Each turn's reads, and its writes, in one io_uring submission (socket_ring.h, ADR 0023).
  bool ring = true;
  // Connections' lives (opened, closed, idle, refused) are kept for the owner's log (takeEvents).
  bool connectionEvents = false;
};

// What happened to a connection, for the owner's log lines (as Node's sockets log them).
enum EventKind : uint8_t { EV_OPENED, EV_CLOSED, EV_IDLE, EV_REFUSED, EV_REFUSED_PER_PEER, EV_REFUSED_DESCRIPTORS };

struct ConnEvent {
  EventKind kind;
  double conn;        // the connection's number in the log (unique in the process)
  uint32_t slot;      // its id in the thread's batches (reused once it is closed and answered)
  double durationMs;  // EV_CLOSED: since it was accepted
  double commands;    // EV_CLOSED: lines it sent
  std::string peer;   // "address:port" (a refusal: the address)
};

// Events a thread keeps for the owner between two looks (it takes them every 250 ms and at each
// batch): past it, under a connection flood faster than the log, they are counted, not kept.
constexpr size_t MAX_PENDING_EVENTS = 16384;

struct Group;

struct Conn {
  int fd = -1;
  uint32_t id = 0;
  std::string peerKey;
  double serial = 0;       // its number in the log lines
  int64_t openedMs = 0;
  double commands = 0;     // lines it sent (framed)
  std::string peer;        // "address:port", with connection events only
  std::string carry;   // bytes of an unfinished line
  std::string out;     // replies not yet written
  size_t outAt = 0;    // written bytes of `out`
  uint32_t inflight = 0;  // lines handed to the owner, not yet answered
  uint32_t batched = 0;   // lines in the batch being built (at most linesPerTurn)
  bool discarding = false;  // inside an over-long line, until its newline
  bool reading = true;      // wants EPOLLIN (see checkBackpressure)
  uint32_t events = EPOLLIN;  // what epoll has registered
  bool ending = false;      // the client half-closed, or the server drains: close once answered
  bool peerEnded = false;   // the client half-closed (read returned 0)
  // Draining, every reply written: the server's FIN is sent (shutdown), and what the client
  // still sends is read and dropped until it closes its half, or the grace period ends.
  bool finSent = false;
  bool dead = false;        // the socket is closed; freed once `inflight` is 0
  bool listed = false;      // in the list of connections a turn's answers write (takeAnswers)
  int64_t lastReadMs = 0;
  // Replies that wait behind a held one (REPLY_HELD, filled by a second answer), in order.
  std::deque<uint8_t> queued;
  // Bytes read past the connection's share of a turn, framed on later turns (`backlog`).
  std::string backlog;
  size_t backlogAt = 0;
};

// A batch of lines from one thread's turn, on its way to JavaScript.
struct Batch {
  int thread;
  std::string lines;
  std::vector<uint32_t> spans;  // per client, in order: its connection's id, its lines
  uint32_t count = 0;
  double readAtNs = 0;
  bool drained = false;  // not a batch: the thread has drained and is exiting
};

struct Span {
  uint32_t conn;
  uint32_t count;
};

// The owner answers a batch in one or two parts: first one reply per line, where REPLY_HELD
// marks a line whose client waits for its barrier (a group commit); then, if any was held, the
// held lines' replies in order (`second`), or `failed`: they could not be made durable.
struct Answer {
  std::string replies;
  bool failed = false;
  bool second = false;
};

// A reused ArrayBuffer that a batch is copied into for JavaScript, instead of a new buffer per
// batch: pipelined clients made the owner allocate megabytes a second off its heap, which
// the young generation freed only at its scavenges (the process's anonymous memory grew by
// tens of MB) and whose external-memory accounting forced extra full collections. JavaScript
// must not keep the views past the call (the owner copies what it holds: split-batches.ts).
struct Inbox {
  napi_ref ref = nullptr;
  void* data = nullptr;
  size_t capacity = 0;
};

struct Thread {
  Group* group = nullptr;
  int index = 0;
  int epfd = -1;
  int wakefd = -1;
  int listenFd = -1;  // this thread's own descriptor of the listening socket
  pthread_t tid{};
  bool started = false;
  std::vector<Conn*> conns;  // by id
  std::vector<uint32_t> freeIds;
  Batch* batch = nullptr;
  size_t lastBatchBytes = 0;  // the size of the batch handed over last, to reserve the next one
  std::vector<Span> spans;                  // of the batch being built
  std::deque<std::vector<Span>> inflight;   // batches handed over, oldest first
  std::deque<std::vector<uint32_t>> unresolved;  // per batch with held lines: their connections
  std::vector<uint32_t> backlog;                 // connections with bytes left to frame
  std::mutex mu;                            // guards answers, handed, draining, destroying
  std::deque<Answer> answers;
  // Connections another thread accepted for this one (descriptor, peer), adopted at its next
  // turn; none once it drains (`handoffClosed`: the acceptor then keeps the connection).
  std::vector<std::pair<int, std::string>> handed;
  bool handoffClosed = false;
  bool drainAsked = false;
  bool destroyAsked = false;
  bool draining = false;
  // The grace period is over and every connection was closed: the thread ends without waiting
  // for the owner's answers to the batches it handed over (a group commit that hangs in the
  // file system held them, and with them the whole shutdown, for as long as it hung).
  bool destroyed = false;
  int64_t acceptPausedUntil = 0;
  int64_t lastSweepMs = 0;
  std::atomic<double> counters[C_COUNT];
  // Connections' lives for the owner's log (Options::connectionEvents), and those not kept.
  std::mutex eventsMu;
  std::vector<ConnEvent> events;
  double eventsDropped = 0;
  // Inline mode (one thread: the owner's own event loop does the I/O, no hop at all).
  bool inlineMode = false;
  // Inline mode: the owner asked it to read nothing for now (pause(); its answers still go).
  bool paused = false;
  bool finished = false;  // the drain is over and onBatch(null) was called
  std::vector<char> buffer;
  // The turn's reads and writes in one system call each, when the kernel allows (socket_ring.h);
  // opened for the thread that submits to it (openRing). Closed: the plain calls.
  socket_ring::Ring ring;
  std::vector<char> arena;
  std::vector<uint32_t> ready;  // a turn's readable connections, by id
  std::vector<Conn*> reading;   // the same, still open when the turn reads them
  std::vector<Conn*> writes;    // the connections a turn's answers write (takeAnswers)
  std::vector<int32_t> results;  // of one ring submission, by tag
  uv_poll_t poll{};
  uv_timer_t timer{};
  uv_idle_t idle{};  // a turn per loop iteration while a connection has a backlog
  int openHandles = 0;
  // Where batches are handed to JavaScript (on its thread only): see `Inbox`.
  Inbox linesBox;
  Inbox spansBox;
};

struct Group {
  Options options;
  std::vector<Thread*> threads;
  napi_threadsafe_function tsfn = nullptr;  // threads hand batches over with this
  napi_env env = nullptr;                   // inline mode calls onBatch directly
  napi_ref onBatch = nullptr;
  napi_async_context async = nullptr;
  std::atomic<int64_t> open{0};
  std::atomic<uint32_t> nextThread{0};  // the thread the next accepted connection goes to
  std::mutex peersMu;
  std::unordered_map<std::string, int64_t> peers;
  std::atomic<uint64_t> serials{0};  // the connections' numbers in the log
  bool joined = false;  // join() has run: the threads are gone (JavaScript thread only)
};

void add(Thread* t, Counter c, double v) {
  t->counters[c].store(t->counters[c].load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}

std::string peerKeyOf(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    return std::string(reinterpret_cast<const char*>(&a->sin_addr), 4);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    const uint8_t* b = a->sin6_addr.s6_addr;
    // A v4-mapped address is the same peer as its IPv4 form.
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, mapped, 12) == 0) return std::string(reinterpret_cast<const char*>(b + 12), 4);
    return std::string(reinterpret_cast<const char*>(b), 16);
  }
  return std::string();
}

// "address:port" as Node prints a socket's peer (remoteAddress, remotePort).
std::string printable(const sockaddr_storage& addr, bool withPort) {
  char text[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  return withPort ? std::string(text) + ":" + std::to_string(port) : std::string(text);
}

// Keeps what happened to a connection for the owner's log, if it logs connections.
void record(Thread* t, EventKind kind, double conn, uint32_t slot, double durationMs, double commands,
            const std::string& peer) {
  if (!t->group->options.connectionEvents) return;
  std::lock_guard<std::mutex> lock(t->eventsMu);
  if (t->events.size() >= MAX_PENDING_EVENTS) {
    t->eventsDropped++;
    return;
  }
  t->events.push_back(ConnEvent{kind, conn, slot, durationMs, commands, peer});
}

bool takePeer(Group* g, const std::string& key) {
  if (g->options.maxConnectionsPerPeer <= 0) return true;
  std::lock_guard<std::mutex> lock(g->peersMu);
  int64_t& n = g->peers[key];
  if (n >= g->options.maxConnectionsPerPeer) {
    if (n == 0) g->peers.erase(key);
    return false;
  }
  n++;
  return true;
}

void releasePeer(Group* g, const std::string& key) {
  if (g->options.maxConnectionsPerPeer <= 0) return;
  std::lock_guard<std::mutex> lock(g->peersMu);
  auto it = g->peers.find(key);
  if (it != g->peers.end() && --it->second <= 0) g->peers.erase(it);
}

// Registers what the connection waits for, with a system call only when that changes.
void setEvents(Thread* t, Conn* c) {
  if (c->fd < 0) return;
  const uint32_t wanted = (c->reading ? uint32_t(EPOLLIN) : 0u) | (c->outAt < c->out.size() ? uint32_t(EPOLLOUT) : 0u);
  if (wanted == c->events) return;
  c->events = wanted;
  epoll_event ev{};
  ev.events = wanted;
  ev.data.u64 = c->id;
  epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

void freeIfDone(Thread* t, Conn* c) {
  if (!c->dead || c->inflight > 0) return;
  t->conns[c->id] = nullptr;
  t->freeIds.push_back(c->id);
  delete c;
}

void closeConn(Thread* t, Conn* c) {
  if (c->fd >= 0) {
    epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    c->fd = -1;
    c->dead = true;
    t->group->open.fetch_sub(1);
    add(t, C_OPEN, -1);
    releasePeer(t->group, c->peerKey);
    record(t, EV_CLOSED, c->serial, c->id, double(nowMs() - c->openedMs), c->commands, c->peer);
  }
  freeIfDone(t, c);
}

// A connection that has nothing left to answer once it is ending: closed if the client has
// half-closed (or the socket failed); while the server drains, its FIN goes first and the
// connection closes when the client closes its half, as with Node's sockets (a close with
// unread input would reset the connection, and the kernel would drop replies not yet sent).
void maybeFinish(Thread* t, Conn* c) {
  if (!c->ending || c->dead || c->inflight > 0 || c->outAt < c->out.size() || !c->backlog.empty()) return;
  if (c->peerEnded) {
    closeConn(t, c);
    return;
  }
  if (c->finSent) return;
  c->finSent = true;
  if (shutdown(c->fd, SHUT_WR) != 0) {
    closeConn(t, c);
    return;
  }
  c->reading = true;
  setEvents(t, c);
}

// Stops or resumes reading by the replies a connection has waiting (--output-high-water-bytes):
// those written but unread by the client, and those still to come for lines it sent.
void checkBackpressure(Thread* t, Conn* c) {
  if (c->dead) return;
  const size_t waiting = (c->out.size() - c->outAt) + size_t(c->inflight) * MAX_REPLY_BYTES;
  const bool read =
      c->finSent || (!c->ending && c->backlog.empty() && waiting < t->group->options.outputHighWaterBytes);
  if (read != c->reading) {
    c->reading = read;
    setEvents(t, c);
  }
}

// Empties a buffer, and gives its memory back if it grew past KEEP_BYTES.
void release(std::string& buffer) {
  if (buffer.capacity() > KEEP_BYTES)
    std::string().swap(buffer);
  else
    buffer.clear();
}

// Adds `k` lines of `c` to the batch: `p[0, n)` is their bytes, each line ended by its '\n'.
void addLines(Thread* t, Conn* c, const char* p, size_t n, uint32_t k) {
  if (t->batch == nullptr) {
    t->batch = new Batch();
    t->batch->thread = t->index;
    t->batch->readAtNs = nowNs();
    // Grown by doubling from nothing, a batch's string was copied a few times over.
    t->batch->lines.reserve(std::min(t->lastBatchBytes + t->lastBatchBytes / 4, size_t(1) << 20));
  }
  Batch* b = t->batch;
  b->lines.append(p, n);
  b->count += k;
  c->commands += k;
  c->inflight += k;
  c->batched += k;
  if (!t->spans.empty() && t->spans.back().conn == c->id)
    t->spans.back().count += k;
  else
    t->spans.push_back({c->id, k});
}

// Adds one line of `c` to the batch: `p[0, n)`, without its '\n'.
void addLine(Thread* t, Conn* c, const char* p, size_t n) {
  addLines(t, c, p, n, 1);
  t->batch->lines.push_back('\n');
}

void overlong(Thread* t, Conn* c) {
  add(t, C_LINES_TOO_LONG, 1);
  addLine(t, c, "", 0);
}

// Cuts `buf[0, n)` into lines, carrying an unfinished one to the next read, until `lines`
// lines have been added; returns the bytes consumed (n unless the budget ran out). A run of
// whole lines, the usual read, goes into the batch with one copy: appending line by line cost
// a third of the layer's instructions per pipelined line.
size_t frame(Thread* t, Conn* c, const char* buf, size_t n, size_t lines) {
  const size_t maxLine = t->group->options.maxLineBytes;
  size_t start = 0;
  // The run of whole lines not added yet: `buf[runStart, start)`, `run` lines.
  size_t runStart = 0;
  uint32_t run = 0;
  const auto flush = [&]() {
    if (run > 0) addLines(t, c, buf + runStart, start - runStart, run);
    run = 0;
  };
  while (start < n) {
    if (lines == 0) {
      flush();
      return start;
    }
    const char* nl = static_cast<const char*>(memchr(buf + start, '\n', n - start));
    if (nl == nullptr) {
      flush();
      if (c->discarding) return n;
      if (c->carry.size() + (n - start) > maxLine) {
        c->carry.clear();
        c->discarding = true;
        overlong(t, c);
        return n;
      }
      c->carry.append(buf + start, n - start);
      return n;
    }
    lines--;
    const size_t end = size_t(nl - buf);
    if (!c->discarding && c->carry.empty() && end - start <= maxLine) {
      if (run++ == 0) runStart = start;
      start = end + 1;
      continue;
    }
    flush();
    if (c->discarding) {
      c->discarding = false;
    } else if (!c->carry.empty()) {
      if (c->carry.size() + (end - start) > maxLine) {
        overlong(t, c);
      } else {
        c->carry.append(buf + start, end - start);
        addLine(t, c, c->carry.data(), c->carry.size());
      }
      release(c->carry);
    } else {
      overlong(t, c);
    }
    start = end + 1;
  }
  flush();
  return n;
}

// Lines a connection may still add to the batch being built: its share of a batch, not of a
// turn. An epoll thread whose batch waits for the owner's answer runs turn after turn, and
// with a share per turn a flooding client filled the waiting batch with many shares: under
// `measure attack pipeline` with two threads, a strict victim waited p50 6–11 ms, p99 12–17 ms.
size_t share(Thread* t, Conn* c) {
  const size_t per = t->group->options.linesPerTurn;
  return c->batched >= per ? 0 : per - c->batched;
}

// Frames the next share of each connection's backlog (bytes read past an earlier share).
void serveBacklog(Thread* t) {
  if (t->backlog.empty()) return;
  std::vector<uint32_t> ids;
  ids.swap(t->backlog);
  for (uint32_t id : ids) {
    Conn* c = t->conns[id];
    if (c == nullptr || c->dead || c->backlog.empty()) continue;
    const size_t left = c->backlog.size() - c->backlogAt;
    c->backlogAt += frame(t, c, c->backlog.data() + c->backlogAt, left, share(t, c));
    if (c->backlogAt < c->backlog.size()) {
      t->backlog.push_back(id);
      continue;
    }
    std::string().swap(c->backlog);
    c->backlogAt = 0;
    checkBackpressure(t, c);
    maybeFinish(t, c);
  }
}

void callInline(Thread* t, Batch* b);

void handOver(Thread* t) {
  if (t->batch == nullptr || t->inflight.size() >= t->group->options.batchesInFlight) return;
  Batch* b = t->batch;
  t->batch = nullptr;
  t->lastBatchBytes = b->lines.size();
  add(t, C_BATCHES, 1);
  add(t, C_BATCHED_COMMANDS, b->count);
  b->spans.reserve(2 * t->spans.size());
  for (const Span& span : t->spans) {
    b->spans.push_back(span.conn);
    b->spans.push_back(span.count);
    // Alive: a connection is freed only once its lines are answered.
    t->conns[span.conn]->batched = 0;
  }
  t->inflight.push_back(std::move(t->spans));
  t->spans.clear();
  if (t->inlineMode)
    callInline(t, b);
  else
    napi_call_threadsafe_function(t->group->tsfn, b, napi_tsfn_blocking);
}

void wroteOut(Thread* t, Conn* c);

void writeOut(Thread* t, Conn* c) {
  while (c->outAt < c->out.size() && !c->dead) {
    const ssize_t w = send(c->fd, c->out.data() + c->outAt, c->out.size() - c->outAt, MSG_NOSIGNAL);
    if (w > 0) {
      c->outAt += size_t(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    closeConn(t, c);
    return;
  }
  wroteOut(t, c);
}

// After a connection's write: gives back what grew, and waits for EPOLLOUT if some is left.
void wroteOut(Thread* t, Conn* c) {
  if (c->dead) return;
  if (c->outAt >= c->out.size()) {
    // All written: a buffer that grew for a burst of replies is given back, not kept per
    // connection (100 pipelining clients kept megabytes of them).
    release(c->out);
    c->outAt = 0;
  } else if (c->outAt > 64 * 1024) {
    c->out.erase(0, c->outAt);
    c->outAt = 0;
  }
  setEvents(t, c);
  checkBackpressure(t, c);
  maybeFinish(t, c);
}

// Appends a reply to the connection's output, counted as sent: before the write, so that a
// client holding its reply also sees it counted (bytesOut is what was queued for clients).
void render(Thread* t, Conn* c, uint8_t r) {
  if (c->dead) return;
  c->out.append(REPLY_TEXT[r], REPLY_LENGTH[r]);
  add(t, C_BYTES_OUT, double(REPLY_LENGTH[r]));
}

// Renders a connection's decided replies up to its first held one.
void flushQueued(Thread* t, Conn* c) {
  while (!c->queued.empty() && c->queued.front() != REPLY_HELD) {
    const uint8_t r = c->queued.front();
    c->queued.pop_front();
    render(t, c, r);
    c->inflight--;
  }
}

socket_ring::Ring* ringOf(Thread* t);
template <typename Done>
bool runRing(Thread* t, socket_ring::Ring* ring, Done&& done);

// Writes each of `conns` once: through the ring, in one system call per round, when there are
// two or more; else with send. What the kernel did not take waits for EPOLLOUT (setEvents).
void writeAll(Thread* t, const std::vector<Conn*>& conns) {
  socket_ring::Ring* ring = conns.size() >= 2 ? ringOf(t) : nullptr;
  if (ring == nullptr) {
    for (Conn* c : conns) writeOut(t, c);
    return;
  }
  const size_t perRound = ring->capacity();
  std::vector<int32_t>& results = t->results;
  for (size_t from = 0; from < conns.size(); from += perRound) {
    const size_t to = from + perRound < conns.size() ? from + perRound : conns.size();
    results.assign(to - from, -EAGAIN);
    for (size_t i = from; i < to; i++) {
      Conn* c = conns[i];
      if (!c->dead && c->outAt < c->out.size())
        ring->send(c->fd, c->out.data() + c->outAt, c->out.size() - c->outAt, i - from);
    }
    const bool ran = runRing(t, ring, [&](uint64_t tag, int32_t res) { results[tag] = res; });
    for (size_t i = from; i < to; i++) {
      Conn* c = conns[i];
      if (!ran) {
        writeOut(t, c);
        continue;
      }
      const int32_t w = results[i - from];
      if (w > 0) c->outAt += size_t(w);
      else if (w != -EAGAIN && w != -EWOULDBLOCK && w != -EINTR && !c->dead) {
        closeConn(t, c);
        continue;
      }
      wroteOut(t, c);
    }
  }
}

void touch(std::vector<Conn*>& touched, Conn* c) {
  if (touched.empty() || touched.back() != c) touched.push_back(c);
}

void takeAnswers(Thread* t) {
  std::deque<Answer> got;
  {
    std::lock_guard<std::mutex> lock(t->mu);
    got.swap(t->answers);
  }
  // Answers that come after the inline thread ended (see `destroyed`): nobody to send them to.
  if (t->finished) return;
  std::vector<Conn*> touched;
  std::vector<uint32_t> dead;  // ids: a connection may be listed twice, and is freed once
  for (Answer& answer : got) {
    if (answer.second) {
      // The held lines of the oldest batch that has any, in order: each fills its client's
      // first hole, and the replies queued behind it follow.
      if (t->unresolved.empty()) continue;  // cannot happen: one second answer per such batch
      std::vector<uint32_t> conns = std::move(t->unresolved.front());
      t->unresolved.pop_front();
      for (size_t k = 0; k < conns.size(); k++) {
        Conn* c = t->conns[conns[k]];
        uint8_t r = answer.failed || k >= answer.replies.size() ? REPLY_ERROR : uint8_t(answer.replies[k]);
        if (r > REPLY_ERROR) r = REPLY_ERROR;
        if (answer.failed) add(t, C_REPLIES_FAILED, 1);
        for (uint8_t& q : c->queued)
          if (q == REPLY_HELD) {
            q = r;
            break;
          }
        flushQueued(t, c);
        if (c->dead) dead.push_back(c->id);
        else touch(touched, c);
      }
      continue;
    }
    if (t->inflight.empty()) break;  // cannot happen: one first answer per batch
    std::vector<Span> spans = std::move(t->inflight.front());
    t->inflight.pop_front();
    std::vector<uint32_t> held;
    size_t at = 0;
    for (const Span& span : spans) {
      Conn* c = t->conns[span.conn];
      for (uint32_t i = 0; i < span.count; i++, at++) {
        uint8_t r = answer.failed || at >= answer.replies.size() ? REPLY_ERROR : uint8_t(answer.replies[at]);
        if (r > REPLY_HELD) r = REPLY_ERROR;
        if (answer.failed) add(t, C_REPLIES_FAILED, 1);
        if (r == REPLY_HELD) held.push_back(c->id);
        if (r == REPLY_HELD || !c->queued.empty()) {
          c->queued.push_back(r);
        } else {
          render(t, c, r);
          c->inflight--;
        }
      }
      if (c->dead) dead.push_back(c->id);
      else touch(touched, c);
    }
    if (!held.empty()) t->unresolved.push_back(std::move(held));
  }
  for (uint32_t id : dead)
    if (t->conns[id] != nullptr && t->conns[id]->dead) freeIfDone(t, t->conns[id]);
  // A connection answered in two batches of the list is written once, after the last: it may
  // be in `touched` twice (answered, another, answered again), and is listed for writing once.
  std::vector<Conn*>& writes = t->writes;
  writes.clear();
  for (Conn* c : touched)
    if (t->conns[c->id] == c && !c->dead && c->outAt < c->out.size()) {
      if (!c->listed) writes.push_back(c);
      c->listed = true;
    } else if (t->conns[c->id] == c) {
      checkBackpressure(t, c);
      maybeFinish(t, c);
    }
  for (Conn* c : writes) c->listed = false;
  writeAll(t, writes);
}

void wake(Thread* t);
void place(Thread* t, int fd, std::string key);

void acceptAll(Thread* t) {
  Group* g = t->group;
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd = accept4(t->listenFd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // Out of descriptors (EMFILE, ENFILE) or memory: the client waits in the queue; stop
      // asking for 100 ms instead of spinning on a listener that stays readable.
      add(t, C_ACCEPT_ERRORS, 1);
      epoll_ctl(t->epfd, EPOLL_CTL_DEL, t->listenFd, nullptr);
      t->acceptPausedUntil = nowMs() + 100;
      return;
    }
    const int64_t open = g->open.fetch_add(1);
    if (open >= g->options.maxConnections || open >= g->options.descriptorConnections) {
      g->open.fetch_sub(1);
      const bool descriptors = open < g->options.maxConnections;
      add(t, descriptors ? C_REFUSED_DESCRIPTORS : C_REFUSED, 1);
      close(fd);
      if (g->options.connectionEvents)
        record(t, descriptors ? EV_REFUSED_DESCRIPTORS : EV_REFUSED, 0, 0, 0, 0, printable(addr, false));
      continue;
    }
    std::string key = peerKeyOf(addr);
    if (!takePeer(g, key)) {
      g->open.fetch_sub(1);
      add(t, C_REFUSED_PER_PEER, 1);
      close(fd);
      if (g->options.connectionEvents) record(t, EV_REFUSED_PER_PEER, 0, 0, 0, 0, printable(addr, false));
      continue;
    }
    place(t, fd, std::move(key));
  }
}

// Serves a connection accepted (by this thread or another) whose limits were taken.
void adopt(Thread* t, int fd, std::string key) {
  add(t, C_OPEN, 1);
  add(t, C_TOTAL, 1);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Conn* c = new Conn();
  c->fd = fd;
  c->peerKey = std::move(key);
  c->lastReadMs = nowMs();
  c->openedMs = c->lastReadMs;
  c->serial = double(t->group->serials.fetch_add(1, std::memory_order_relaxed) + 1);
  if (!t->freeIds.empty()) {
    c->id = t->freeIds.back();
    t->freeIds.pop_back();
    t->conns[c->id] = c;
  } else {
    c->id = uint32_t(t->conns.size());
    t->conns.push_back(c);
  }
  if (t->group->options.connectionEvents) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) c->peer = printable(addr, true);
    record(t, EV_OPENED, c->serial, c->id, 0, 0, c->peer);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = c->id;
  epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev);
}

// Gives a connection that was accepted but will not be served back (its limits, its socket).
void refuseHanded(Group* g, int fd, const std::string& key) {
  close(fd);
  g->open.fetch_sub(1);
  releasePeer(g, key);
}

// Spreads accepted connections over the threads in turn: whichever thread the kernel wakes
// for the listener accepts (it drains the queue), so on its own one thread took 80-98 % of a
// burst of connections. A thread that drains takes no more; the acceptor keeps them then.
void place(Thread* t, int fd, std::string key) {
  Group* g = t->group;
  Thread* to = g->threads[g->nextThread.fetch_add(1, std::memory_order_relaxed) % g->threads.size()];
  if (to != t) {
    bool taken = false;
    {
      std::lock_guard<std::mutex> lock(to->mu);
      if (!to->handoffClosed) {
        to->handed.emplace_back(fd, std::move(key));
        taken = true;
      }
    }
    if (taken) {
      wake(to);
      return;
    }
  }
  adopt(t, fd, std::move(key));
}

// The connections other threads accepted for this one.
void takeHanded(Thread* t) {
  std::vector<std::pair<int, std::string>> got;
  {
    std::lock_guard<std::mutex> lock(t->mu);
    got.swap(t->handed);
  }
  for (auto& h : got) adopt(t, h.first, std::move(h.second));
}

// What a read of `c` into `buf` returned: `r` bytes, or -errno.
void received(Thread* t, Conn* c, char* buf, ssize_t r) {
  if (r > 0) {
    add(t, C_BYTES_IN, double(r));
    c->lastReadMs = nowMs();
    if (!t->draining) {
      const size_t used = frame(t, c, buf, size_t(r), share(t, c));
      if (used < size_t(r)) {
        c->backlog.assign(buf + used, size_t(r) - used);
        c->backlogAt = 0;
        t->backlog.push_back(c->id);
      }
    }
    checkBackpressure(t, c);
    return;
  }
  if (r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR) return;
  if (r == 0) {
    // The client will send nothing more: answer what it sent, then close.
    c->ending = true;
    c->peerEnded = true;
    c->finSent = false;
    c->reading = false;
    setEvents(t, c);
    maybeFinish(t, c);
    return;
  }
  closeConn(t, c);
}

void readConn(Thread* t, Conn* c, char* buf) {
  const ssize_t r = recv(c->fd, buf, READ_BYTES, 0);
  received(t, c, buf, r < 0 ? -errno : r);
}

// Opens the thread's ring, on the thread that will submit to it (a kernel that refuses it
// leaves the plain calls; start() has already said why, with ringError()).
void openRing(Thread* t) {
  if (t->group->options.ring && t->ring.open(RING_ENTRIES)) t->arena.resize(RING_ARENA_BYTES);
}

socket_ring::Ring* ringOf(Thread* t) { return t->ring.ready() ? &t->ring : nullptr; }

// One submission's worth of operations, run; false when the submission failed (nothing done).
template <typename Done>
bool runRing(Thread* t, socket_ring::Ring* ring, Done&& done) {
  add(t, C_RING_CALLS, 1);
  return ring->run(done);
}

// Reads each of `ready` once: through the ring, in one system call per round, when there are
// two or more; else with recv.
void readAll(Thread* t, const std::vector<Conn*>& ready) {
  socket_ring::Ring* ring = ready.size() >= 2 ? ringOf(t) : nullptr;
  if (ring == nullptr) {
    for (Conn* c : ready)
      if (!c->dead) readConn(t, c, t->buffer.data());
    return;
  }
  size_t slice = RING_ARENA_BYTES / ready.size();
  slice = slice > READ_BYTES ? READ_BYTES : slice < RING_SLICE_MIN ? RING_SLICE_MIN : slice;
  const size_t perRound = RING_ARENA_BYTES / slice;
  ssize_t results[MAX_EVENTS];
  for (size_t from = 0; from < ready.size(); from += perRound) {
    const size_t to = from + perRound < ready.size() ? from + perRound : ready.size();
    for (size_t i = from; i < to; i++) {
      results[i - from] = -EAGAIN;
      if (!ready[i]->dead) ring->recv(ready[i]->fd, t->arena.data() + (i - from) * slice, slice, i - from);
    }
    const bool ran = runRing(t, ring, [&](uint64_t tag, int32_t res) { results[tag] = res; });
    for (size_t i = from; i < to; i++) {
      Conn* c = ready[i];
      if (c->dead) continue;
      if (!ran) readConn(t, c, t->buffer.data());
      else received(t, c, t->arena.data() + (i - from) * slice, results[i - from]);
    }
  }
}

void sweepIdle(Thread* t, int64_t now) {
  const int64_t idle = t->group->options.idleTimeoutMs;
  if (idle <= 0 || now - t->lastSweepMs < 250) return;
  t->lastSweepMs = now;
  for (Conn* c : t->conns)
    if (c != nullptr && !c->dead && c->inflight == 0 && c->outAt >= c->out.size() && now - c->lastReadMs >= idle) {
      add(t, C_IDLE_CLOSED, 1);
      record(t, EV_IDLE, c->serial, c->id, 0, 0, c->peer);
      closeConn(t, c);
    }
}

void startDrain(Thread* t) {
  if (t->draining) return;
  t->draining = true;
  // Connections accepted for this thread and not yet served: closed, as those still in the
  // listener's queue are when it closes.
  std::vector<std::pair<int, std::string>> handed;
  {
    std::lock_guard<std::mutex> lock(t->mu);
    t->handoffClosed = true;
    handed.swap(t->handed);
  }
  for (auto& h : handed) refuseHanded(t->group, h.first, h.second);
  if (t->listenFd >= 0) {
    epoll_ctl(t->epfd, EPOLL_CTL_DEL, t->listenFd, nullptr);
    close(t->listenFd);
    t->listenFd = -1;
  }
  // Lines already read are answered, then each connection is closed; nothing more is read.
  for (Conn* c : t->conns)
    if (c != nullptr && !c->dead) {
      c->ending = true;
      checkBackpressure(t, c);
      maybeFinish(t, c);
    }
}

void destroyConns(Thread* t) {
  for (Conn* c : t->conns)
    if (c != nullptr && !c->dead) closeConn(t, c);
  t->destroyed = true;
}

bool anyOpen(Thread* t) {
  for (Conn* c : t->conns)
    if (c != nullptr && !c->dead) return true;
  return false;
}

// One turn: waits up to `timeout` ms for events, serves them, hands the turn's lines over.
// Returns false once the thread has drained (every connection answered and closed).
bool turn(Thread* t, int timeout) {
  serveBacklog(t);
  epoll_event events[MAX_EVENTS];
  // A backlog is framed in the next turn at once, unless the batch it would go to waits for
  // the owner's answer (the answer wakes the thread): its clients have had their share.
  const bool waiting = t->batch != nullptr && t->inflight.size() >= t->group->options.batchesInFlight;
  const int n = epoll_wait(t->epfd, events, MAX_EVENTS, t->backlog.empty() || waiting ? timeout : 0);
  if (n < 0 && errno != EINTR) return false;
  bool destroy = false;
  // Readable connections are read after every event is seen, so that one system call reads
  // them all; by id, because a wake-up's answers may close and free a connection meanwhile.
  std::vector<uint32_t>& ready = t->ready;
  ready.clear();
  for (int i = 0; i < n; i++) {
    const uint64_t tag = events[i].data.u64;
    if (tag == LISTEN_TAG) {
      if (!t->draining) acceptAll(t);
      continue;
    }
    if (tag == WAKE_TAG) {
      uint64_t v;
      (void)!read(t->wakefd, &v, sizeof v);
      bool drain;
      {
        std::lock_guard<std::mutex> lock(t->mu);
        drain = t->drainAsked;
        destroy = t->destroyAsked;
      }
      takeAnswers(t);
      takeHanded(t);
      if (drain) startDrain(t);
      continue;
    }
    Conn* c = tag < t->conns.size() ? t->conns[tag] : nullptr;
    if (c == nullptr || c->dead) continue;
    // Both directions are shut (a reset): nothing can be read or delivered any more.
    if (events[i].events & (EPOLLHUP | EPOLLERR)) {
      closeConn(t, c);
      continue;
    }
    if (events[i].events & EPOLLOUT) writeOut(t, c);
    if (c->dead || t->conns[tag] != c) continue;
    if (events[i].events & EPOLLIN) ready.push_back(c->id);
  }
  t->reading.clear();
  for (uint32_t id : ready)
    if (t->conns[id] != nullptr && !t->conns[id]->dead) t->reading.push_back(t->conns[id]);
  readAll(t, t->reading);
  handOver(t);
  const int64_t now = nowMs();
  if (t->acceptPausedUntil > 0 && now >= t->acceptPausedUntil && !t->draining) {
    t->acceptPausedUntil = 0;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = LISTEN_TAG;
    epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->listenFd, &ev);
  }
  sweepIdle(t, now);
  if (destroy) destroyConns(t);
  const bool answered = t->inflight.empty() && t->unresolved.empty() && t->batch == nullptr;
  return !(t->draining && !anyOpen(t) && (answered || t->destroyed));
}

// Inline mode: a turn soon when a connection has a backlog (no epoll event will come for it).
void scheduleBacklog(Thread* t);

bool turnAndSchedule(Thread* t, int timeout) {
  const bool more = turn(t, timeout);
  if (more && !t->backlog.empty() && t->inlineMode) scheduleBacklog(t);
  return more;
}

void releaseConns(Thread* t) {
  // A batch never handed over (a thread that ended after destroy() without its answers).
  delete t->batch;
  t->batch = nullptr;
  for (Conn* c : t->conns)
    if (c != nullptr) {
      if (!c->dead) closeConn(t, c);
      delete c;
    }
  t->conns.clear();
}

void* run(void* arg) {
  Thread* t = static_cast<Thread*>(arg);
  openRing(t);
  for (;;) {
    const int timeout = (t->group->options.idleTimeoutMs > 0 || t->acceptPausedUntil > 0 || t->draining) ? 100 : -1;
    if (!turn(t, timeout)) break;
  }
  releaseConns(t);
  Batch* done = new Batch();
  done->thread = t->index;
  done->drained = true;
  napi_call_threadsafe_function(t->group->tsfn, done, napi_tsfn_blocking);
  return nullptr;
}

// ---- the JavaScript side ----------------------------------------------------------------

// A typed array of `bytes` in `box`'s buffer (grown as needed, kept up to INBOX_KEEP_BYTES),
// filled from `from`; null when the buffer cannot be made.
napi_value inboxView(napi_env env, Inbox& box, napi_typedarray_type type, const void* from, size_t bytes,
                     size_t elements) {
  napi_value buffer = nullptr, view = nullptr;
  void* data = nullptr;
  if (box.ref != nullptr && box.capacity >= bytes) {
    napi_get_reference_value(env, box.ref, &buffer);
    data = box.data;
  } else if (bytes > INBOX_KEEP_BYTES) {
    if (napi_create_arraybuffer(env, bytes, &data, &buffer) != napi_ok) return nullptr;
  } else {
    size_t capacity = 4096;
    while (capacity < bytes) capacity *= 2;
    if (napi_create_arraybuffer(env, capacity, &data, &buffer) != napi_ok) return nullptr;
    if (box.ref != nullptr) napi_delete_reference(env, box.ref);
    napi_create_reference(env, buffer, 1, &box.ref);
    box.data = data;
    box.capacity = capacity;
  }
  if (bytes > 0) memcpy(data, from, bytes);
  napi_create_typedarray(env, type, elements, buffer, 0, &view);
  return view;
}

void releaseInbox(napi_env env, Inbox& box) {
  if (box.ref != nullptr) napi_delete_reference(env, box.ref);
  box = Inbox();
}

// onBatch(thread, lines | null, count, readAtNs, spans); deletes the batch. The views are
// valid during the call only: the next batch of the thread is copied into the same memory.
void batchArgs(napi_env env, Thread* t, Batch* b, napi_value* args) {
  napi_create_int32(env, b->thread, &args[0]);
  if (b->drained) {
    napi_get_null(env, &args[1]);
  } else {
    args[1] = inboxView(env, t->linesBox, napi_uint8_array, b->lines.data(), b->lines.size(), b->lines.size());
    if (args[1] == nullptr) napi_get_null(env, &args[1]);
  }
  napi_create_uint32(env, b->count, &args[2]);
  napi_create_double(env, b->readAtNs, &args[3]);
  args[4] = inboxView(env, t->spansBox, napi_uint32_array, b->spans.data(), b->spans.size() * sizeof(uint32_t),
                      b->spans.size());
  if (args[4] == nullptr) napi_get_null(env, &args[4]);
  delete b;
}

void callJs(napi_env env, napi_value fn, void* context, void* data) {
  Batch* b = static_cast<Batch*>(data);
  if (env == nullptr || fn == nullptr) {
    delete b;
    return;
  }
  Group* g = static_cast<Group*>(context);
  if (size_t(b->thread) >= g->threads.size()) {  // cannot happen: join() comes after every batch
    delete b;
    return;
  }
  napi_value args[5];
  batchArgs(env, g->threads[size_t(b->thread)], b, args);
  napi_value recv;
  napi_get_undefined(env, &recv);
  napi_call_function(env, recv, fn, 5, args, nullptr);
}

// Inline mode: called from the owner's event loop (a libuv callback), so it enters JavaScript
// as a callback (microtasks run after it, as after any I/O callback); an exception it throws is
// the process's uncaught exception, as for any other callback.
void callInline(Thread* t, Batch* b) {
  Group* g = t->group;
  napi_env env = g->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value args[5], fn, recv, result;
  batchArgs(env, t, b, args);
  napi_get_reference_value(env, g->onBatch, &fn);
  napi_get_global(env, &recv);  // napi_make_callback wants an object
  const napi_status status = napi_make_callback(env, g->async, recv, fn, 5, args, &result);
  if (status == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  } else if (status != napi_ok) {
    napi_fatal_error("pkgindex_io", NAPI_AUTO_LENGTH, "cannot call onBatch", NAPI_AUTO_LENGTH);
  }
  napi_close_handle_scope(env, scope);
}

void finishInline(Thread* t) {
  if (t->finished) return;
  t->finished = true;
  uv_poll_stop(&t->poll);
  uv_timer_stop(&t->timer);
  uv_idle_stop(&t->idle);
  releaseConns(t);
  Batch* done = new Batch();
  done->thread = t->index;
  done->drained = true;
  callInline(t, done);
}

void inlineTurn(Thread* t) {
  if (t->finished || t->paused) return;
  if (!turnAndSchedule(t, 0)) finishInline(t);
}

void destroyThread(Thread* t);

void onInlineClosed(uv_handle_t* handle) {
  Thread* t = static_cast<Thread*>(handle->data);
  if (--t->openHandles == 0) destroyThread(t);
}

void onInlinePoll(uv_poll_t* handle, int, int) { inlineTurn(static_cast<Thread*>(handle->data)); }
void onInlineTimer(uv_timer_t* handle) { inlineTurn(static_cast<Thread*>(handle->data)); }

// Not a 0 ms timer: one re-armed from its own callback runs again in the same timer phase,
// forever while the backlog lasts, and the loop never reaches its poll (measured: the attack
// tool's IPC to the server went unanswered). An idle handle gets one call per iteration.
void onInlineIdle(uv_idle_t* handle) {
  Thread* t = static_cast<Thread*>(handle->data);
  inlineTurn(t);
  if (t->backlog.empty() || t->finished || t->paused) uv_idle_stop(handle);
}

void scheduleBacklog(Thread* t) {
  if (!t->finished) uv_idle_start(&t->idle, onInlineIdle);
}

bool getNumber(napi_env env, napi_value object, const char* name, double* out) {
  napi_value value;
  napi_valuetype type;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return false;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return false;
  return napi_get_value_double(env, value, out) == napi_ok;
}

Group* groupOf(napi_env env, napi_value value) {
  void* data = nullptr;
  if (napi_get_value_external(env, value, &data) != napi_ok) {
    napi_throw_type_error(env, "E_NATIVE_ARGUMENT", "expected the handle start() returned");
    return nullptr;
  }
  return static_cast<Group*>(data);
}

void wake(Thread* t) {
  const uint64_t one = 1;
  (void)!write(t->wakefd, &one, sizeof one);
}

void destroyThread(Thread* t) {
  for (auto& h : t->handed) close(h.first);
  if (t->epfd >= 0) close(t->epfd);
  if (t->wakefd >= 0) close(t->wakefd);
  if (t->listenFd >= 0) close(t->listenFd);
  delete t;
}

// Start() failed after its threads were made: frees them, the group and what it holds. With
// `polled`, thread 0's poll handle was registered with the loop, and is freed once closed.
void abandonGroup(napi_env env, Group* g, bool polled) {
  for (Thread* t : g->threads) {
    if (polled && t->inlineMode) {
      t->openHandles = 1;
      uv_close(reinterpret_cast<uv_handle_t*>(&t->poll), onInlineClosed);
      continue;
    }
    destroyThread(t);
  }
  if (g->onBatch != nullptr) napi_delete_reference(env, g->onBatch);
  if (g->async != nullptr) napi_async_destroy(env, g->async);
  delete g;
}

// Stops and joins the epoll threads that did start (no connection was accepted yet that the
// owner knows of: the batches they hand over before they stop are dropped with the function).
void stopStarted(Group* g) {
  for (Thread* t : g->threads) {
    if (!t->started) continue;
    {
      std::lock_guard<std::mutex> lock(t->mu);
      t->drainAsked = true;
      t->destroyAsked = true;
    }
    wake(t);
  }
  for (Thread* t : g->threads)
    if (t->started) {
      pthread_join(t->tid, nullptr);
      t->started = false;
    }
}

// start(listenFd, options, onBatch) -> handle. The descriptor is duplicated for each thread;
// the caller keeps (and closes) its own.
napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 3) {
    napi_throw_type_error(env, "E_NATIVE_ARGUMENT", "start(listenFd, options, onBatch)");
    return nullptr;
  }
  int32_t listenFd = -1;
  napi_get_value_int32(env, argv[0], &listenFd);
  double threads = 1, maxLine = 0, maxConns = 0, perPeer = 0, highWater = 0, idle = 0, inFlight = 0, inlineIo = 0,
         linesPerTurn = 0, ring = 0, connectionEvents = 0, descriptorConnections = -1;
  if (!getNumber(env, argv[1], "threads", &threads) || !getNumber(env, argv[1], "maxLineBytes", &maxLine) ||
      !getNumber(env, argv[1], "maxConnections", &maxConns) ||
      !getNumber(env, argv[1], "maxConnectionsPerPeer", &perPeer) ||
      !getNumber(env, argv[1], "outputHighWaterBytes", &highWater) ||
      !getNumber(env, argv[1], "idleTimeoutMs", &idle) || !getNumber(env, argv[1], "batchesInFlight", &inFlight) ||
      !getNumber(env, argv[1], "inline", &inlineIo) || !getNumber(env, argv[1], "linesPerTurn", &linesPerTurn) ||
      !getNumber(env, argv[1], "ring", &ring) || !getNumber(env, argv[1], "connectionEvents", &connectionEvents) ||
      !getNumber(env, argv[1], "descriptorConnections", &descriptorConnections)) {
    napi_throw_type_error(env, "E_NATIVE_ARGUMENT", "start(): an option is missing or not a number");
    return nullptr;
  }
  Group* g = new Group();
  g->options.threads = threads < 1 ? 1 : int(threads);
  g->options.maxLineBytes = size_t(maxLine);
  g->options.maxConnections = int64_t(maxConns);
  g->options.maxConnectionsPerPeer = int64_t(perPeer);
  g->options.outputHighWaterBytes = size_t(highWater);
  g->options.idleTimeoutMs = int64_t(idle);
  g->options.batchesInFlight = inFlight < 1 ? 1 : size_t(inFlight);
  g->options.linesPerTurn = linesPerTurn < 1 ? 1 : size_t(linesPerTurn);
  g->options.ring = ring != 0;
  g->options.connectionEvents = connectionEvents != 0;
  // -1: no budget known (the limit is unlimited, or /proc could not be read).
  if (descriptorConnections >= 0) g->options.descriptorConnections = int64_t(descriptorConnections);
  // Inline: thread 0 is the owner's own event loop (see the header comment); any others are
  // epoll threads that hand their batches over.
  const bool inlineMode = inlineIo != 0;
  for (int i = 0; i < g->options.threads; i++) {
    Thread* t = new Thread();
    for (auto& counter : t->counters) counter.store(0);
    t->group = g;
    t->index = i;
    t->inlineMode = inlineMode && i == 0;
    t->buffer.resize(READ_BYTES);
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    t->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    t->listenFd = fcntl(listenFd, F_DUPFD_CLOEXEC, 3);
    g->threads.push_back(t);
    if (t->epfd < 0 || t->wakefd < 0 || t->listenFd < 0) {
      const std::string message = std::string("cannot set up an I/O thread: ") + strerror(errno);
      for (Thread* made : g->threads) destroyThread(made);
      delete g;
      napi_throw_error(env, "E_NATIVE_START", message.c_str());
      return nullptr;
    }
    epoll_event listen{};
    listen.events = EPOLLIN | EPOLLEXCLUSIVE;
    listen.data.u64 = LISTEN_TAG;
    epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->listenFd, &listen);
    epoll_event wakeEv{};
    wakeEv.events = EPOLLIN;
    wakeEv.data.u64 = WAKE_TAG;
    epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wakefd, &wakeEv);
  }
  napi_value name;
  napi_create_string_utf8(env, "pkgindex-io", NAPI_AUTO_LENGTH, &name);
  uv_loop_t* loop = nullptr;
  if (inlineMode) {
    Thread* t = g->threads[0];
    napi_value resource;
    napi_create_object(env, &resource);
    // uv_poll_init comes last: when it fails, nothing is registered with the loop.
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[2], 1, &g->onBatch) != napi_ok ||
        napi_async_init(env, resource, name, &g->async) != napi_ok || uv_poll_init(loop, &t->poll, t->epfd) != 0) {
      abandonGroup(env, g, false);
      napi_throw_error(env, "E_NATIVE_START", "cannot watch the connections from this event loop");
      return nullptr;
    }
    g->env = env;
    t->poll.data = t;
  }
  if (!inlineMode || g->options.threads > 1) {
    if (napi_create_threadsafe_function(env, argv[2], nullptr, name, 0, 1, nullptr, nullptr, g, callJs,
                                        &g->tsfn) != napi_ok) {
      abandonGroup(env, g, inlineMode);
      napi_throw_error(env, "E_NATIVE_START", "cannot create the thread-safe function");
      return nullptr;
    }
    // Every epoll thread starts, or none serves: a thread that never ran would never report
    // that it drained, and the owner would wait for it at shutdown.
    for (Thread* t : g->threads) {
      if (t->inlineMode) continue;
      if (pthread_create(&t->tid, nullptr, run, t) != 0) {
        stopStarted(g);
        napi_release_threadsafe_function(g->tsfn, napi_tsfn_abort);
        abandonGroup(env, g, inlineMode);
        napi_throw_error(env, "E_NATIVE_START", "cannot start an I/O thread");
        return nullptr;
      }
      t->started = true;
      // Named, so that `top -H`, perf and /proc show which threads are the layer's.
      char threadName[16];
      snprintf(threadName, sizeof threadName, "pkgindex-io-%d", t->index);
      pthread_setname_np(t->tid, threadName);
    }
  }
  if (inlineMode) {
    Thread* t = g->threads[0];
    openRing(t);  // this thread (the owner's) submits to it
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    uv_idle_init(loop, &t->idle);
    t->idle.data = t;
    t->openHandles = 3;
    uv_poll_start(&t->poll, UV_READABLE, onInlinePoll);
    // The sweep of idle connections and the end of the drain; the poll keeps the loop alive.
    uv_timer_start(&t->timer, onInlineTimer, 100, 100);
    uv_unref(reinterpret_cast<uv_handle_t*>(&t->timer));
  }
  napi_value handle;
  napi_create_external(env, g, nullptr, nullptr, &handle);
  return handle;
}

// reply(handle, thread, replies | null, second?): answers the thread's oldest unanswered batch,
// one Reply per line, REPLY_HELD for a line whose client waits for its barrier (null: every
// reply is ERROR); with `second`, the held lines of the oldest batch that has any, in order
// (null: they could not be made durable, ERROR).
napi_value ReplyFn(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Group* g = groupOf(env, argv[0]);
  if (g == nullptr || g->joined) return nullptr;
  int32_t index = -1;
  napi_get_value_int32(env, argv[1], &index);
  if (index < 0 || size_t(index) >= g->threads.size()) {
    napi_throw_range_error(env, "E_NATIVE_ARGUMENT", "no such I/O thread");
    return nullptr;
  }
  Thread* t = g->threads[size_t(index)];
  Answer answer;
  if (argc >= 4) napi_get_value_bool(env, argv[3], &answer.second);
  napi_valuetype type;
  napi_typeof(env, argv[2], &type);
  if (type == napi_null) {
    answer.failed = true;
  } else {
    napi_typedarray_type arrayType;
    size_t length = 0, offset = 0;
    void* data = nullptr;
    napi_value buffer;
    if (napi_get_typedarray_info(env, argv[2], &arrayType, &length, &data, &buffer, &offset) != napi_ok ||
        arrayType != napi_uint8_array) {
      napi_throw_type_error(env, "E_NATIVE_ARGUMENT", "replies must be a Uint8Array or null");
      return nullptr;
    }
    answer.replies.assign(static_cast<const char*>(data), length);
  }
  {
    std::lock_guard<std::mutex> lock(t->mu);
    t->answers.push_back(std::move(answer));
  }
  if (t->inlineMode)
    takeAnswers(t);
  else
    wake(t);
  return nullptr;
}

// drain(handle): every thread stops accepting, answers what it has read, closes each
// connection once answered, and reports `null` to onBatch when it has exited.
// destroy(handle): the same, but closes every connection now (the grace period is over).
napi_value Signal(napi_env env, napi_callback_info info, bool destroy) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Group* g = groupOf(env, argv[0]);
  if (g == nullptr || g->joined) return nullptr;
  for (Thread* t : g->threads) {
    if (t->inlineMode) {
      if (t->finished) continue;
      startDrain(t);
      if (destroy) destroyConns(t);
      // The next iteration sees whether the drain is over.
      scheduleBacklog(t);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(t->mu);
      t->drainAsked = true;
      if (destroy) t->destroyAsked = true;
    }
    wake(t);
  }
  return nullptr;
}

// pause(handle, paused): the inline thread (the owner's own event loop) stops reading, accepting
// and sweeping while paused, and takes it up again when unpaused; its answers still go out. The
// owner pauses it while its batches wait for the store (ADR 0025), so that the lines arriving
// meanwhile are read in one larger turn. The I/O threads of --threads > 1 are not paused.
napi_value Pause(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Group* g = groupOf(env, argv[0]);
  if (g == nullptr || g->joined) return nullptr;
  bool paused = false;
  napi_get_value_bool(env, argv[1], &paused);
  for (Thread* t : g->threads) {
    if (!t->inlineMode || t->finished || t->paused == paused) continue;
    t->paused = paused;
    if (paused) uv_poll_stop(&t->poll);
    else {
      uv_poll_start(&t->poll, UV_READABLE, onInlinePoll);
      if (!t->backlog.empty()) scheduleBacklog(t);
    }
  }
  return nullptr;
}

napi_value Drain(napi_env env, napi_callback_info info) { return Signal(env, info, false); }
napi_value Destroy(napi_env env, napi_callback_info info) { return Signal(env, info, true); }

// join(handle): after every thread reported that it drained: joins them and frees them. The
// group itself stays (a few bytes) so that a late call on the handle is a no-op.
napi_value Join(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Group* g = groupOf(env, argv[0]);
  if (g == nullptr || g->joined) return nullptr;
  g->joined = true;
  for (Thread* t : g->threads) {
    releaseInbox(env, t->linesBox);
    releaseInbox(env, t->spansBox);
    if (t->inlineMode) {
      // Freed once libuv has closed its handles (the descriptors outlive the poll).
      uv_close(reinterpret_cast<uv_handle_t*>(&t->poll), onInlineClosed);
      uv_close(reinterpret_cast<uv_handle_t*>(&t->timer), onInlineClosed);
      uv_close(reinterpret_cast<uv_handle_t*>(&t->idle), onInlineClosed);
      continue;
    }
    if (t->started) pthread_join(t->tid, nullptr);
    destroyThread(t);
  }
  if (g->tsfn != nullptr) napi_release_threadsafe_function(g->tsfn, napi_tsfn_release);
  if (g->onBatch != nullptr) napi_delete_reference(env, g->onBatch);
  if (g->async != nullptr) napi_async_destroy(env, g->async);
  g->threads.clear();
  return nullptr;
}

// ringError() -> null when this process may set up an io_uring ring (one is opened and closed),
// else why not (the kernel's error), so that the owner can say why the layer makes plain calls.
napi_value RingError(napi_env env, napi_callback_info) {
  socket_ring::Ring probe;
  napi_value out;
  if (probe.open(RING_ENTRIES)) {
    napi_get_null(env, &out);
    return out;
  }
  const int err = errno;
  // The errno's name (strerrorname_np is glibc's alone): the ones a refusal comes with.
  const char* name = err == EPERM    ? "EPERM"
                     : err == ENOSYS ? "ENOSYS"
                     : err == ENOMEM ? "ENOMEM"
                     : err == EINVAL ? "EINVAL"
                     : err == EACCES ? "EACCES"
                                     : nullptr;
  std::string message = (name != nullptr ? std::string(name) : "errno " + std::to_string(err)) + ": " + strerror(err);
  napi_create_string_utf8(env, message.c_str(), message.size(), &out);
  return out;
}

// takeEvents(handle) -> null when no connection event waits, else a flat array: the events not
// kept since the last call (a count), then per event its thread, kind, connection number, slot,
// duration (ms), commands and peer, thread after thread, each thread's in the order they
// happened. What it returns is gone from the threads.
napi_value TakeEvents(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Group* g = groupOf(env, argv[0]);
  napi_value out;
  napi_get_null(env, &out);
  if (g == nullptr || g->joined) return out;
  std::vector<std::pair<int, std::vector<ConnEvent>>> taken;
  double dropped = 0;
  for (Thread* t : g->threads) {
    std::vector<ConnEvent> events;
    {
      std::lock_guard<std::mutex> lock(t->eventsMu);
      events.swap(t->events);
      dropped += t->eventsDropped;
      t->eventsDropped = 0;
    }
    if (!events.empty()) taken.emplace_back(t->index, std::move(events));
  }
  if (taken.empty() && dropped == 0) return out;
  napi_create_array(env, &out);
  uint32_t at = 0;
  const auto push = [&](napi_value v) { napi_set_element(env, out, at++, v); };
  napi_value v;
  napi_create_double(env, dropped, &v);
  push(v);
  for (auto& [thread, events] : taken)
    for (const ConnEvent& e : events) {
      napi_create_int32(env, thread, &v);
      push(v);
      napi_create_int32(env, int32_t(e.kind), &v);
      push(v);
      napi_create_double(env, e.conn, &v);
      push(v);
      napi_create_uint32(env, e.slot, &v);
      push(v);
      napi_create_double(env, e.durationMs, &v);
      push(v);
      napi_create_double(env, e.commands, &v);
      push(v);
      napi_create_string_utf8(env, e.peer.data(), e.peer.size(), &v);
      push(v);
    }
  return out;
}

// stats(handle) -> Float64Array of C_COUNT counters per thread, thread after thread.
napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Group* g = groupOf(env, argv[0]);
  if (g == nullptr) return nullptr;
  const size_t n = g->threads.size() * C_COUNT;
  void* data = nullptr;
  napi_value buffer, array;
  napi_create_arraybuffer(env, n * sizeof(double), &data, &buffer);
  double* out = static_cast<double*>(data);
  for (size_t i = 0; i < g->threads.size(); i++)
    for (size_t c = 0; c < C_COUNT; c++) out[i * C_COUNT + c] = g->threads[i]->counters[c].load(std::memory_order_relaxed);
  napi_create_typedarray(env, napi_float64_array, n, buffer, 0, &array);
  return array;
}

napi_value Init(napi_env env, napi_value exports) {
  const struct {
    const char* name;
    napi_callback fn;
  } functions[] = {{"start", Start}, {"reply", ReplyFn}, {"drain", Drain},
                   {"destroy", Destroy}, {"join", Join}, {"pause", Pause}, {"stats", Stats}, {"ringError", RingError},
                   {"takeEvents", TakeEvents}};
  for (const auto& f : functions) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  napi_value abi, counters;
  napi_create_int32(env, ABI_VERSION, &abi);
  napi_set_named_property(env, exports, "abi", abi);
  napi_create_int32(env, C_COUNT, &counters);
  napi_set_named_property(env, exports, "counters", counters);
  return exports;
}

}  // namespace

NAPI_MODULE(pkgindex_io, Init)
