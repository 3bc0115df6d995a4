// A turn's socket reads, or its writes, in one system call (io_uring), for the native
// connection layer (native/pkgindex_io.cc, ADR 0023).
//
// Each recv and send of a turn is otherwise a system call of its own, and on a host where a
// system call's entry and exit are expensive (a VM with page-table isolation and no PCID: ~1 µs
// for getppid) they were a fifth of a strict request/response reply's CPU. Here a turn queues
// one entry per connection and submits them all with one io_uring_enter; every entry carries
// MSG_DONTWAIT, so the kernel completes it during the submission, exactly as the non-blocking
// call would have (the data, or -EAGAIN, never a deferred completion), and the caller handles
// each result as it handled the call's.
//
// No liburing: the ring is set up with the raw system calls and <linux/io_uring.h>. When the
// kernel refuses a ring (older than 5.6, io_uring_disabled, a seccomp filter as in Docker's
// default profile), `open` returns false and the layer makes the plain calls.
#pragma once

#include <errno.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace socket_ring {

class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() { close(); }

  // Sets the ring up for at most `entries` operations a submission (a power of two). Only the
  // thread that opens it may submit (IORING_SETUP_SINGLE_ISSUER where the kernel knows it).
  // Returns false, with errno, when the kernel refuses; the ring is then closed.
  bool open(unsigned entries) {
    close();
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    int fd = int(syscall(__NR_io_uring_setup, entries, &p));
    if (fd < 0 && errno == EINVAL) {  // a kernel before 6.0 knows not all of them
      p = io_uring_params{};
      fd = int(syscall(__NR_io_uring_setup, entries, &p));
    }
    if (fd < 0) return false;
    fd_ = fd;
    sqLen_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cqLen_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    single_ = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single_) sqLen_ = cqLen_ = sqLen_ > cqLen_ ? sqLen_ : cqLen_;
    sq_ = mmap(nullptr, sqLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (sq_ == MAP_FAILED) return fail();
    cq_ = single_ ? sq_
                  : mmap(nullptr, cqLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    if (cq_ == MAP_FAILED) return fail();
    sqesLen_ = p.sq_entries * sizeof(io_uring_sqe);
    sqes_ = static_cast<io_uring_sqe*>(
        mmap(nullptr, sqesLen_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES));
    if (sqes_ == MAP_FAILED) {
      sqes_ = nullptr;
      return fail();
    }
    char* sq = static_cast<char*>(sq_);
    char* cq = static_cast<char*>(cq_);
    sqHead_ = reinterpret_cast<unsigned*>(sq + p.sq_off.head);
    sqTail_ = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
    sqMask_ = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
    sqArray_ = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
    cqHead_ = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
    cqTail_ = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
    cqMask_ = *reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
    cqes_ = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes);
    capacity_ = p.sq_entries;
    return true;
  }

  bool ready() const { return fd_ >= 0; }
  // Operations one submission may carry.
  unsigned capacity() const { return capacity_; }

  void close() {
    if (sqes_ != nullptr) munmap(sqes_, sqesLen_);
    if (cq_ != nullptr && cq_ != MAP_FAILED && !single_) munmap(cq_, cqLen_);
    if (sq_ != nullptr && sq_ != MAP_FAILED) munmap(sq_, sqLen_);
    if (fd_ >= 0) ::close(fd_);
    sqes_ = nullptr;
    sq_ = cq_ = nullptr;
    fd_ = -1;
    queued_ = 0;
    capacity_ = 0;
  }

  // Queues a non-blocking recv of at most `n` bytes into `buf`; `tag` (32 bits) comes back with
  // its result.
  void recv(int fd, void* buf, size_t n, uint64_t tag) { queue(IORING_OP_RECV, fd, buf, n, MSG_DONTWAIT, tag); }

  // Queues a non-blocking send of `buf[0, n)`, without SIGPIPE.
  void send(int fd, const void* buf, size_t n, uint64_t tag) {
    queue(IORING_OP_SEND, fd, const_cast<void*>(buf), n, MSG_DONTWAIT | MSG_NOSIGNAL, tag);
  }

  unsigned queued() const { return queued_; }

  // Submits what was queued (at most capacity()) and waits for the completion of every entry
  // the kernel took; calls `done(tag, result)` for each, result as the call's: bytes, or
  // -errno. An entry the kernel did not take (it stops at one it cannot even start, unless
  // IORING_SETUP_SUBMIT_ALL) is taken back and has no result: the caller keeps the -EAGAIN it
  // assumed, and the connection is read, or written, on a later turn. Returns false, with
  // errno, when the submission failed as a whole: nothing was done.
  template <typename Done>
  bool run(Done&& done) {
    const unsigned n = queued_;
    if (n == 0) return true;
    queued_ = 0;
    struct NextGeneration {
      uint32_t& g;
      ~NextGeneration() { g++; }
    } next{generation_};
    __atomic_store_n(sqTail_, tail_, __ATOMIC_RELEASE);
    int taken;
    do taken = int(syscall(__NR_io_uring_enter, fd_, n, 0, 0, nullptr, 0));
    while (taken < 0 && errno == EINTR);
    if (taken < 0 || unsigned(taken) < n) {
      // What the kernel did not consume is taken back, so that no later submission carries an
      // entry whose buffer is gone.
      const int saved = errno;
      tail_ = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
      __atomic_store_n(sqTail_, tail_, __ATOMIC_RELEASE);
      errno = saved;
      if (taken < 0) return false;
    }
    // Every MSG_DONTWAIT entry completes during the submission; should one not have, wait for
    // exactly what is missing.
    unsigned reaped = 0;
    for (;;) {
      unsigned head = *cqHead_;
      const unsigned tail = __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE);
      for (; head != tail; head++) {
        const io_uring_cqe& e = cqes_[head & cqMask_];
        // A completion of an earlier submission that came too late is dropped: its tag means
        // nothing now.
        if ((e.user_data >> 32) != generation_) continue;
        done(e.user_data & 0xffffffffu, e.res);
        reaped++;
      }
      __atomic_store_n(cqHead_, head, __ATOMIC_RELEASE);
      if (reaped >= unsigned(taken)) return true;
      int r;
      do r = int(syscall(__NR_io_uring_enter, fd_, 0, unsigned(taken) - reaped, IORING_ENTER_GETEVENTS, nullptr, 0));
      while (r < 0 && errno == EINTR);
      if (r < 0) return true;  // cannot wait (cannot happen): what came is handled, the rest kept -EAGAIN
    }
  }

 private:
  void queue(uint8_t op, int fd, void* buf, size_t n, uint32_t flags, uint64_t tag) {
    const unsigned index = tail_ & sqMask_;
    io_uring_sqe* e = &sqes_[index];
    memset(e, 0, sizeof *e);
    e->opcode = op;
    e->fd = fd;
    e->addr = reinterpret_cast<uint64_t>(buf);
    e->len = uint32_t(n);
    e->msg_flags = flags;
    e->user_data = (uint64_t(generation_) << 32) | (tag & 0xffffffffu);
    sqArray_[index] = index;
    tail_++;
    queued_++;
  }

  bool fail() {
    const int saved = errno;
    close();
    errno = saved;
    return false;
  }

  int fd_ = -1;
  bool single_ = false;
  void* sq_ = nullptr;
  void* cq_ = nullptr;
  size_t sqLen_ = 0, cqLen_ = 0, sqesLen_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  unsigned* sqHead_ = nullptr;
  unsigned* sqTail_ = nullptr;
  unsigned* sqArray_ = nullptr;
  unsigned sqMask_ = 0;
  unsigned* cqHead_ = nullptr;
  unsigned* cqTail_ = nullptr;
  unsigned cqMask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  unsigned tail_ = 0;
  unsigned queued_ = 0;
  unsigned capacity_ = 0;
  uint32_t generation_ = 0;  // of the submission being queued: the high half of each tag
};

}  // namespace socket_ring
