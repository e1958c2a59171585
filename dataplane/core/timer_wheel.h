// A hierarchical timing wheel: O(1) add and cancel of intrusive timers, time passed in (ns).
//
//   struct Conn { ix::core::Timer rto; ... };
//   void OnRto(ix::core::Timer& t, uint64_t now_ns) { auto* c = static_cast<Conn*>(t.arg()); ... }
//
//   ix::core::TimerWheel wheel({.tick_ns = 100'000, .start_ns = now_ns});
//   conn.rto.Init(&OnRto, &conn);
//   wheel.Add(&conn.rto, now_ns + 200'000'000);   // (re)arms
//   wheel.Cancel(&conn.rto);                      // no-op if not pending
//   wheel.Advance(now_ns);                        // fires every timer due at now_ns
//
// Time is quantized to ticks of tick_ns. A timer never fires before its expiry: it fires in the
// first Advance(now_ns) with now_ns >= expiry rounded up to a tick. Timers due in one Advance fire
// in order of expiry tick (ties in a deterministic but unspecified order). Callbacks may Add and
// Cancel any timer, including ones due in the same Advance (a cancelled one then does not fire)
// and themselves; a timer added from a callback with an expiry at or before the current tick fires
// at the next Advance, so a callback that re-arms itself for "now" cannot loop forever.
//
// Layout: kLevels levels of 256 slots; level l holds timers whose expiry tick first differs from
// the current tick in base-256 digit l. Timers beyond the top level (2^32 ticks ahead, about five
// days at 100 us) wait on an overflow list and are re-placed when time gets there. Advance costs
// O(levels) per occupied slot it reaches plus O(1) per timer it moves or fires; it jumps over empty
// stretches of time in one step.
//
// Threading: one owner thread; no locks. A pending Timer must not be moved or destroyed: cancel
// it first (the destructor aborts if it is still pending).
#ifndef IX_DATAPLANE_CORE_TIMER_WHEEL_H_
#define IX_DATAPLANE_CORE_TIMER_WHEEL_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace ix::core {

class TimerWheel;

// Link fields shared by timers and the wheel's list heads.
struct TimerLink {
  TimerLink* prev = nullptr;
  TimerLink* next = nullptr;
};

class Timer : private TimerLink {
 public:
  using Fn = void (*)(Timer& timer, uint64_t now_ns);

  Timer() = default;
  Timer(Fn fn, void* arg) : fn_(fn), arg_(arg) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer();

  // Sets the callback and its argument. Must not be called while pending.
  void Init(Fn fn, void* arg);

  bool pending() const { return where_ != kIdle; }
  // Expiry as given to the last Add (ns); meaningful while pending.
  uint64_t expiry_ns() const { return expiry_ns_; }
  void* arg() const { return arg_; }

 private:
  friend class TimerWheel;
  static constexpr uint16_t kIdle = 0xffff;
  static constexpr uint16_t kExpired = 0xfffe;   // on the wheel's already-due list
  static constexpr uint16_t kOverflow = 0xfffd;  // beyond the top level

  Fn fn_ = nullptr;
  void* arg_ = nullptr;
  uint64_t expiry_ns_ = 0;
  uint64_t expiry_tick_ = 0;
  uint16_t where_ = kIdle;  // level * 256 + slot, or one of the markers above
};

struct TimerWheelOptions {
  uint64_t tick_ns = 100'000;  // granularity; > 0
  uint64_t start_ns = 0;       // the wheel's "now" until the first Advance
};

class TimerWheel {
 public:
  static constexpr int kLevels = 4;
  static constexpr int kSlotBits = 8;
  static constexpr int kSlots = 1 << kSlotBits;

  explicit TimerWheel(const TimerWheelOptions& options = {});
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  ~TimerWheel();  // leaves pending timers idle (not fired)

  // Arms `timer` (cancelling it first if pending) to fire at `expiry_ns`. O(1). The timer must
  // have a callback (Init) and must outlive its pending state.
  void Add(Timer* timer, uint64_t expiry_ns);
  // Disarms `timer`. Returns whether it was pending. O(1).
  bool Cancel(Timer* timer);
  // Moves time to now_ns (ignored if earlier than the current time) and fires every due timer.
  // Returns how many fired.
  int Advance(uint64_t now_ns);

  // A lower bound on the earliest pending expiry in ns (exact when that timer is within 256
  // ticks), or UINT64_MAX if nothing is pending. For deciding how long a loop may sleep.
  uint64_t NextExpiryNs() const;

  size_t pending() const { return pending_; }
  uint64_t now_ns() const { return now_ns_; }
  uint64_t tick_ns() const { return tick_ns_; }

 private:
  using List = TimerLink;  // circular list head

  static void ListInit(List* head) { head->prev = head->next = head; }
  static bool ListEmpty(const List* head) { return head->next == head; }
  static void ListAppend(List* head, TimerLink* node);
  static void ListUnlink(TimerLink* node);
  static Timer* AsTimer(TimerLink* link) { return static_cast<Timer*>(link); }

  uint64_t TickOf(uint64_t ns) const;  // rounds up
  void Place(Timer* timer);            // relative to now_tick_
  void Unlink(Timer* timer);
  // The next tick > now_tick_ at which an occupied slot's block (or the overflow horizon) starts;
  // UINT64_MAX if none.
  uint64_t NextEventTick() const;
  int FireList(List* list, uint64_t now_ns);

  uint64_t tick_ns_;
  uint64_t now_ns_;
  uint64_t now_tick_;
  size_t pending_ = 0;
  std::array<std::array<List, kSlots>, kLevels> slots_;
  std::array<std::array<uint64_t, kSlots / 64>, kLevels> occupied_{};
  List expired_;   // already due when added; fired at the next Advance
  List overflow_;  // beyond the top level
  List firing_;    // timers being fired by the current FireList
};

}  // namespace ix::core

#endif  // IX_DATAPLANE_CORE_TIMER_WHEEL_H_
