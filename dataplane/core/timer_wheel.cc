// TimerWheel: placement by highest differing base-256 digit, and an Advance that steps from one
// occupied slot's block to the next.
#include "dataplane/core/timer_wheel.h"

#include <bit>
#include <cstdio>
#include <cstdlib>

namespace ix::core {
namespace {

constexpr uint16_t kFiring = 0xfffc;  // on the wheel's firing list during Advance
constexpr int kTopShift = TimerWheel::kLevels * TimerWheel::kSlotBits;  // 32

}  // namespace

Timer::~Timer() {
  if (pending()) {
    fprintf(stderr, "[ix core] Timer %p destroyed while pending (expiry %llu ns)\n",
            static_cast<void*>(this), static_cast<unsigned long long>(expiry_ns_));
    abort();
  }
}

void Timer::Init(Fn fn, void* arg) {
  if (pending()) {
    fprintf(stderr, "[ix core] Timer::Init on a pending timer\n");
    abort();
  }
  fn_ = fn;
  arg_ = arg;
}

void TimerWheel::ListAppend(List* head, TimerLink* node) {
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
}

void TimerWheel::ListUnlink(TimerLink* node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->prev = node->next = nullptr;
}

TimerWheel::TimerWheel(const TimerWheelOptions& options)
    : tick_ns_(options.tick_ns == 0 ? 1 : options.tick_ns),
      now_ns_(options.start_ns),
      now_tick_(options.start_ns / tick_ns_) {
  for (auto& level : slots_) {
    for (List& head : level) ListInit(&head);
  }
  ListInit(&expired_);
  ListInit(&overflow_);
  ListInit(&firing_);
}

TimerWheel::~TimerWheel() {
  auto drop_all = [](List* head) {
    while (!ListEmpty(head)) {
      Timer* t = AsTimer(head->next);
      ListUnlink(t);
      t->where_ = Timer::kIdle;
    }
  };
  for (auto& level : slots_) {
    for (List& head : level) drop_all(&head);
  }
  drop_all(&expired_);
  drop_all(&overflow_);
  drop_all(&firing_);
}

uint64_t TimerWheel::TickOf(uint64_t ns) const {
  return ns / tick_ns_ + (ns % tick_ns_ != 0 ? 1 : 0);
}

void TimerWheel::Place(Timer* timer) {
  const uint64_t e = timer->expiry_tick_;
  if (e <= now_tick_) {
    ListAppend(&expired_, timer);
    timer->where_ = Timer::kExpired;
    return;
  }
  const int high_bit = 63 - std::countl_zero(e ^ now_tick_);
  const int level = high_bit / kSlotBits;
  if (level >= kLevels) {
    ListAppend(&overflow_, timer);
    timer->where_ = Timer::kOverflow;
    return;
  }
  const int slot = static_cast<int>((e >> (level * kSlotBits)) & (kSlots - 1));
  ListAppend(&slots_[level][slot], timer);
  occupied_[level][slot / 64] |= uint64_t{1} << (slot % 64);
  timer->where_ = static_cast<uint16_t>(level * kSlots + slot);
}

void TimerWheel::Unlink(Timer* timer) {
  ListUnlink(timer);
  const uint16_t where = timer->where_;
  if (where < kLevels * kSlots) {
    const int level = where / kSlots;
    const int slot = where % kSlots;
    if (ListEmpty(&slots_[level][slot])) {
      occupied_[level][slot / 64] &= ~(uint64_t{1} << (slot % 64));
    }
  }
  timer->where_ = Timer::kIdle;
}

void TimerWheel::Add(Timer* timer, uint64_t expiry_ns) {
  if (timer->fn_ == nullptr) {
    fprintf(stderr, "[ix core] TimerWheel::Add of a timer without a callback\n");
    abort();
  }
  if (timer->pending()) {
    Unlink(timer);
    --pending_;
  }
  timer->expiry_ns_ = expiry_ns;
  timer->expiry_tick_ = TickOf(expiry_ns);
  ++pending_;
  if (expiry_ns <= now_ns_) {
    // Already due: fires at the next Advance, never from inside this call.
    ListAppend(&expired_, timer);
    timer->where_ = Timer::kExpired;
    return;
  }
  Place(timer);
}

bool TimerWheel::Cancel(Timer* timer) {
  if (!timer->pending()) return false;
  Unlink(timer);
  --pending_;
  return true;
}

uint64_t TimerWheel::NextEventTick() const {
  uint64_t best = UINT64_MAX;
  for (int level = 0; level < kLevels; ++level) {
    for (int word = 0; word < kSlots / 64; ++word) {
      const uint64_t bits = occupied_[level][word];
      if (bits == 0) continue;
      // Every occupied slot at this level is ahead of now's digit (placement invariant), so the
      // lowest one is the next block to reach.
      const uint64_t slot = static_cast<uint64_t>(word * 64 + std::countr_zero(bits));
      const int shift = (level + 1) * kSlotBits;
      const uint64_t prefix = shift >= 64 ? 0 : (now_tick_ >> shift) << shift;
      const uint64_t start = prefix | (slot << (level * kSlotBits));
      if (start < best) best = start;
      break;
    }
  }
  if (!ListEmpty(&overflow_) && (now_tick_ >> kTopShift) != (UINT64_MAX >> kTopShift)) {
    const uint64_t horizon = ((now_tick_ >> kTopShift) + 1) << kTopShift;
    if (horizon < best) best = horizon;
  }
  return best;
}

uint64_t TimerWheel::NextExpiryNs() const {
  if (!ListEmpty(&expired_)) return now_ns_;
  const uint64_t tick = NextEventTick();
  if (tick == UINT64_MAX) return UINT64_MAX;
  if (tick > UINT64_MAX / tick_ns_) return UINT64_MAX;
  return tick * tick_ns_;
}

int TimerWheel::FireList(List* list, uint64_t now_ns) {
  int fired = 0;
  // Pop one at a time: a callback may cancel (unlink) any other timer still on the list.
  while (!ListEmpty(list)) {
    Timer* t = AsTimer(list->next);
    ListUnlink(t);
    t->where_ = Timer::kIdle;
    --pending_;
    ++fired;
    t->fn_(*t, now_ns);
  }
  return fired;
}

int TimerWheel::Advance(uint64_t now_ns) {
  if (now_ns < now_ns_) now_ns = now_ns_;
  now_ns_ = now_ns;
  const uint64_t target = now_ns / tick_ns_;
  int fired = 0;

  // Timers that were already due when added. Move them first so that ones re-added by their own
  // callbacks wait for the next Advance.
  while (!ListEmpty(&expired_)) {
    Timer* t = AsTimer(expired_.next);
    ListUnlink(t);
    ListAppend(&firing_, t);
    t->where_ = kFiring;
  }
  fired += FireList(&firing_, now_ns);

  List moving;
  ListInit(&moving);
  for (;;) {
    const uint64_t b = NextEventTick();
    if (b == UINT64_MAX || b > target) break;
    const uint64_t old_tick = now_tick_;
    now_tick_ = b;

    if (!ListEmpty(&overflow_) && (b >> kTopShift) != (old_tick >> kTopShift)) {
      while (!ListEmpty(&overflow_)) {
        TimerLink* n = overflow_.next;
        ListUnlink(n);
        ListAppend(&moving, n);
      }
    }
    // Cascade every higher-level slot whose block starts at b, top level first.
    for (int level = kLevels - 1; level >= 1; --level) {
      const int low_bits = level * kSlotBits;
      if ((b & ((uint64_t{1} << low_bits) - 1)) != 0) continue;
      const int slot = static_cast<int>((b >> low_bits) & (kSlots - 1));
      List* head = &slots_[level][slot];
      if (ListEmpty(head)) continue;
      while (!ListEmpty(head)) {
        TimerLink* n = head->next;
        ListUnlink(n);
        ListAppend(&moving, n);
      }
      occupied_[level][slot / 64] &= ~(uint64_t{1} << (slot % 64));
    }
    while (!ListEmpty(&moving)) {
      Timer* t = AsTimer(moving.next);
      ListUnlink(t);
      if (t->expiry_tick_ <= now_tick_) {
        ListAppend(&firing_, t);
        t->where_ = kFiring;
      } else {
        Place(t);
      }
    }
    // Level 0: every timer in the slot expires exactly at b.
    const int slot0 = static_cast<int>(b & (kSlots - 1));
    List* head0 = &slots_[0][slot0];
    if (!ListEmpty(head0)) {
      while (!ListEmpty(head0)) {
        Timer* t = AsTimer(head0->next);
        ListUnlink(t);
        ListAppend(&firing_, t);
        t->where_ = kFiring;
      }
      occupied_[0][slot0 / 64] &= ~(uint64_t{1} << (slot0 % 64));
    }
    fired += FireList(&firing_, now_ns);
  }
  if (target > now_tick_) now_tick_ = target;
  return fired;
}

}  // namespace ix::core
