// Tests for TimerWheel with deterministic time: exact firing points against a brute-force model,
// far-future timers, cancel and re-arm from callbacks.
#include "dataplane/core/timer_wheel.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ix::core {
namespace {

constexpr uint64_t kUs = 1000;
constexpr uint64_t kMs = 1000 * kUs;
constexpr uint64_t kSec = 1000 * kMs;
constexpr uint64_t kDay = 86400 * kSec;

// Records which timers fired, in order, and at what now_ns.
struct Log {
  std::vector<int> ids;
  std::vector<uint64_t> at_ns;
};

struct Tagged {
  Timer timer;
  int id = 0;
  Log* log = nullptr;
};

void Record(Timer& t, uint64_t now_ns) {
  auto* tag = static_cast<Tagged*>(t.arg());
  tag->log->ids.push_back(tag->id);
  tag->log->at_ns.push_back(now_ns);
}

// Tests declare the wheel after their timers, so that the wheel is destroyed first and drops any
// still pending (a pending Timer's destructor aborts, which would end the whole test binary when
// an ASSERT returns early).
std::vector<std::unique_ptr<Tagged>> MakeTimers(int n, Log* log) {
  std::vector<std::unique_ptr<Tagged>> v;
  for (int i = 0; i < n; ++i) {
    auto t = std::make_unique<Tagged>();
    t->id = i;
    t->log = log;
    t->timer.Init(&Record, t.get());
    v.push_back(std::move(t));
  }
  return v;
}

TEST(TimerWheel, NeverFiresEarlyAndRoundsUpToATick) {
  Log log;
  auto timers = MakeTimers(1, &log);
  TimerWheel wheel({.tick_ns = 100 * kUs, .start_ns = 0});
  wheel.Add(&timers[0]->timer, 250 * kUs);
  EXPECT_TRUE(timers[0]->timer.pending());
  EXPECT_EQ(wheel.pending(), 1u);
  EXPECT_EQ(wheel.Advance(200 * kUs), 0);
  EXPECT_EQ(wheel.Advance(299 * kUs), 0);  // 250 us rounds up to the 300 us tick
  EXPECT_EQ(wheel.Advance(300 * kUs), 1);
  ASSERT_EQ(log.ids.size(), 1u);
  EXPECT_EQ(log.at_ns[0], 300 * kUs);
  EXPECT_FALSE(timers[0]->timer.pending());
  EXPECT_EQ(wheel.pending(), 0u);
  EXPECT_EQ(wheel.Advance(10 * kSec), 0);
}

TEST(TimerWheel, CancelAndRearm) {
  Log log;
  auto t = MakeTimers(3, &log);
  TimerWheel wheel({.tick_ns = 100 * kUs});
  wheel.Add(&t[0]->timer, 1 * kMs);
  wheel.Add(&t[1]->timer, 2 * kMs);
  wheel.Add(&t[2]->timer, 3 * kMs);
  EXPECT_TRUE(wheel.Cancel(&t[1]->timer));
  EXPECT_FALSE(wheel.Cancel(&t[1]->timer));
  wheel.Add(&t[0]->timer, 5 * kMs);  // re-arm moves it
  EXPECT_EQ(wheel.pending(), 2u);
  EXPECT_EQ(wheel.Advance(4 * kMs), 1);
  EXPECT_EQ(log.ids, std::vector<int>({2}));
  EXPECT_EQ(wheel.Advance(5 * kMs), 1);
  EXPECT_EQ(log.ids, std::vector<int>({2, 0}));
  EXPECT_EQ(wheel.pending(), 0u);
}

TEST(TimerWheel, AlreadyDueTimerFiresAtTheNextAdvance) {
  Log log;
  auto t = MakeTimers(3, &log);
  TimerWheel wheel({.tick_ns = 100 * kUs, .start_ns = 10 * kMs});
  wheel.Add(&t[0]->timer, 3 * kMs);   // in the past
  wheel.Add(&t[1]->timer, 10 * kMs);  // exactly now
  wheel.Add(&t[2]->timer, 1 * kMs);
  EXPECT_TRUE(wheel.Cancel(&t[2]->timer));  // cancelled while on the already-due list
  EXPECT_EQ(wheel.NextExpiryNs(), 10 * kMs);
  EXPECT_EQ(wheel.Advance(10 * kMs), 2);
  EXPECT_EQ(log.ids, std::vector<int>({0, 1}));
  EXPECT_EQ(log.at_ns, std::vector<uint64_t>({10 * kMs, 10 * kMs}));
}

TEST(TimerWheel, TimeNeverGoesBackwards) {
  Log log;
  auto t = MakeTimers(1, &log);
  TimerWheel wheel({.tick_ns = 1 * kMs, .start_ns = 0});
  EXPECT_EQ(wheel.Advance(50 * kMs), 0);
  wheel.Add(&t[0]->timer, 55 * kMs);
  EXPECT_EQ(wheel.Advance(20 * kMs), 0);  // earlier than now: ignored
  EXPECT_EQ(wheel.now_ns(), 50 * kMs);
  EXPECT_EQ(wheel.Advance(55 * kMs), 1);
}

TEST(TimerWheel, NextExpiryIsALowerBoundAndExactWhenNear) {
  Log log;
  auto t = MakeTimers(2, &log);
  TimerWheel wheel({.tick_ns = 100 * kUs});
  EXPECT_EQ(wheel.NextExpiryNs(), UINT64_MAX);
  wheel.Add(&t[0]->timer, 10 * kSec);
  const uint64_t far = wheel.NextExpiryNs();
  EXPECT_LE(far, 10 * kSec);
  EXPECT_GT(far, 0u);
  wheel.Add(&t[1]->timer, 1 * kMs);
  EXPECT_EQ(wheel.NextExpiryNs(), 1 * kMs);
  wheel.Cancel(&t[1]->timer);
  wheel.Cancel(&t[0]->timer);
  EXPECT_EQ(wheel.NextExpiryNs(), UINT64_MAX);
}

// Far-future timers (past the 2^32-tick top level) wait on the overflow list and still fire at
// exactly the right Advance, including after jumps of days.
TEST(TimerWheel, FarFutureTimers) {
  Log log;
  auto t = MakeTimers(4, &log);
  TimerWheel wheel({.tick_ns = 100 * kUs});
  wheel.Add(&t[0]->timer, 30 * kDay);             // ~2.6e10 ticks: overflow
  wheel.Add(&t[1]->timer, 400 * kDay + 7 * kUs);  // deep overflow, not on a tick
  wheel.Add(&t[2]->timer, 4 * kDay);              // top level
  wheel.Add(&t[3]->timer, UINT64_MAX - 5);        // "never"
  EXPECT_EQ(wheel.Advance(4 * kDay - 1), 0);
  EXPECT_EQ(wheel.Advance(4 * kDay), 1);
  EXPECT_EQ(wheel.Advance(30 * kDay - 100 * kUs), 0);
  EXPECT_EQ(wheel.Advance(30 * kDay), 1);
  EXPECT_EQ(wheel.Advance(400 * kDay), 0);
  EXPECT_EQ(wheel.Advance(400 * kDay + 100 * kUs), 1);
  EXPECT_EQ(log.ids, std::vector<int>({2, 0, 1}));
  EXPECT_EQ(wheel.pending(), 1u);
  EXPECT_TRUE(wheel.Cancel(&t[3]->timer));
}

// Small steps across a far-future boundary: the overflow list is re-placed when time gets there.
TEST(TimerWheel, OverflowWithTinyTicks) {
  Log log;
  auto t = MakeTimers(2, &log);
  TimerWheel wheel({.tick_ns = 1});  // top level spans 2^32 ns, about 4.3 s; destroyed first
  wheel.Add(&t[0]->timer, 10 * kSec + 3);
  wheel.Add(&t[1]->timer, (1ull << 32) + 1);
  uint64_t now = 0;
  int steps = 0;
  while (log.ids.size() < 2 && steps < 100000) {
    now += 997 * kUs;
    wheel.Advance(now);
    ++steps;
  }
  ASSERT_EQ(log.ids, std::vector<int>({1, 0}));
  // Each fired at the first step at or after its expiry.
  EXPECT_GE(log.at_ns[0], (1ull << 32) + 1);
  EXPECT_LT(log.at_ns[0] - 997 * kUs, (1ull << 32) + 1);
  EXPECT_GE(log.at_ns[1], 10 * kSec + 3);
  EXPECT_LT(log.at_ns[1] - 997 * kUs, 10 * kSec + 3);
}

// A seeded random workload checked against a brute-force model: every timer fires in the first
// Advance whose now_ns reaches its expiry rounded up to a tick, and within one Advance timers fire
// in order of expiry tick. Cancels and re-arms happen between steps.
TEST(TimerWheel, MatchesBruteForceModel) {
  constexpr uint64_t kTick = 100 * kUs;
  constexpr int kTimers = 3000;
  Log log;
  auto t = MakeTimers(kTimers, &log);
  TimerWheel wheel({.tick_ns = kTick});
  std::mt19937_64 rng(12345);
  std::vector<uint64_t> expiry(kTimers, 0);
  std::vector<bool> armed(kTimers, false);
  auto random_expiry = [&](uint64_t now) {
    switch (rng() % 5) {
      case 0:
        return now + 1 + rng() % (2 * kMs);  // level 0
      case 1:
        return now + 1 + rng() % (5 * kSec);  // levels 1-2
      case 2:
        return now + 1 + rng() % (3 * kDay);  // level 3
      case 3:
        return now + 1 + rng() % (20 * kDay);  // overflow
      default:
        return now + 1 + rng() % (30 * kMs);
    }
  };
  for (int i = 0; i < kTimers; ++i) {
    expiry[i] = random_expiry(0);
    armed[i] = true;
    wheel.Add(&t[i]->timer, expiry[i]);
  }
  uint64_t now = 0;
  int fired_total = 0;
  for (int step = 0; step < 20000 && fired_total < kTimers * 2; ++step) {
    // Step sizes from sub-tick to days, so both the slot-by-slot and the jump paths run.
    static constexpr uint64_t kSteps[] = {37 * kUs,  250 * kUs,       3 * kMs, 700 * kMs,
                                          90 * kSec, 2 * 3600 * kSec, 1 * kDay};
    now += kSteps[rng() % 7] / (1 + rng() % 3);
    // Cancel or re-arm a few timers.
    for (int k = 0; k < 3; ++k) {
      int i = static_cast<int>(rng() % kTimers);
      if (!armed[i]) continue;
      if (rng() % 2) {
        EXPECT_TRUE(wheel.Cancel(&t[i]->timer));
        armed[i] = false;
      } else {
        expiry[i] = random_expiry(now);
        wheel.Add(&t[i]->timer, expiry[i]);
      }
    }
    const size_t before = log.ids.size();
    const int fired = wheel.Advance(now);
    ASSERT_EQ(static_cast<size_t>(fired), log.ids.size() - before);
    // Model: exactly the armed timers whose tick-rounded expiry is <= now fire, in tick order.
    std::vector<int> expected;
    for (int i = 0; i < kTimers; ++i) {
      const uint64_t due = (expiry[i] + kTick - 1) / kTick * kTick;
      if (armed[i] && due <= now) expected.push_back(i);
    }
    std::vector<int> got(log.ids.begin() + static_cast<long>(before), log.ids.end());
    std::vector<int> got_sorted = got;
    std::sort(got_sorted.begin(), got_sorted.end());
    ASSERT_EQ(got_sorted, expected) << "at step " << step << ", now " << now;
    for (size_t k = 1; k < got.size(); ++k) {
      ASSERT_LE((expiry[got[k - 1]] + kTick - 1) / kTick, (expiry[got[k]] + kTick - 1) / kTick)
          << "out of order at step " << step;
    }
    for (int i : got) {
      armed[i] = false;
      // Re-arm some fired timers so the wheel stays busy.
      if (rng() % 2) {
        expiry[i] = random_expiry(now);
        armed[i] = true;
        wheel.Add(&t[i]->timer, expiry[i]);
      }
    }
    fired_total += fired;
    ASSERT_EQ(wheel.pending(), static_cast<size_t>(std::count(armed.begin(), armed.end(), true)));
  }
  EXPECT_GT(fired_total, kTimers);
  for (auto& x : t) wheel.Cancel(&x->timer);
}

// Callbacks that cancel other due timers, cancel later timers, and re-arm themselves.
struct Scenario {
  TimerWheel* wheel;
  Timer a, b, c, d, periodic;
  std::vector<char> fired;
  int periodic_count = 0;
};

TEST(TimerWheel, CancelDuringFire) {
  Scenario s;
  TimerWheel wheel({.tick_ns = 100 * kUs});
  s.wheel = &wheel;
  s.a.Init(
      [](Timer& t, uint64_t) {
        auto* sc = static_cast<Scenario*>(t.arg());
        sc->fired.push_back('a');
        EXPECT_TRUE(sc->wheel->Cancel(&sc->d));   // same tick: already on the firing list
        EXPECT_TRUE(sc->wheel->Cancel(&sc->b));   // due in this same Advance
        EXPECT_TRUE(sc->wheel->Cancel(&sc->c));   // due later
        EXPECT_FALSE(sc->wheel->Cancel(&sc->a));  // itself: no longer pending while it runs
      },
      &s);
  s.b.Init([](Timer& t, uint64_t) { static_cast<Scenario*>(t.arg())->fired.push_back('b'); }, &s);
  s.c.Init([](Timer& t, uint64_t) { static_cast<Scenario*>(t.arg())->fired.push_back('c'); }, &s);
  s.d.Init([](Timer& t, uint64_t) { static_cast<Scenario*>(t.arg())->fired.push_back('d'); }, &s);
  wheel.Add(&s.a, 1 * kMs);
  wheel.Add(&s.d, 1 * kMs);             // same slot, after a
  wheel.Add(&s.b, 1 * kMs + 50 * kUs);  // a later tick, but due in the same Advance
  wheel.Add(&s.c, 900 * kMs);           // a higher level
  EXPECT_EQ(wheel.Advance(2 * kMs), 1);
  EXPECT_EQ(wheel.Advance(1 * kSec), 0);
  EXPECT_EQ(s.fired, std::vector<char>({'a'}));
  EXPECT_EQ(wheel.pending(), 0u);
}

TEST(TimerWheel, SelfRearmingTimersDoNotLoop) {
  Scenario s;
  TimerWheel wheel({.tick_ns = 100 * kUs});
  s.wheel = &wheel;
  // Re-arms for "now": must fire once per Advance, not forever.
  s.periodic.Init(
      [](Timer& t, uint64_t now_ns) {
        auto* sc = static_cast<Scenario*>(t.arg());
        ++sc->periodic_count;
        sc->wheel->Add(&t, now_ns);
      },
      &s);
  wheel.Add(&s.periodic, 1 * kMs);
  EXPECT_EQ(wheel.Advance(1 * kMs), 1);
  EXPECT_EQ(wheel.Advance(1 * kMs), 1);
  EXPECT_EQ(wheel.Advance(5 * kMs), 1);
  EXPECT_EQ(s.periodic_count, 3);
  EXPECT_TRUE(wheel.Cancel(&s.periodic));
}

TEST(TimerWheel, CallbackCanAddTimersDueLaterInTheSameAdvanceWindow) {
  Scenario s;
  TimerWheel wheel({.tick_ns = 100 * kUs});
  s.wheel = &wheel;
  // a (at 1 ms) arms b for 10 ms; Advance(3 ms) fires a only; b waits for its own time.
  s.a.Init(
      [](Timer& t, uint64_t now_ns) {
        auto* sc = static_cast<Scenario*>(t.arg());
        sc->fired.push_back('a');
        sc->wheel->Add(&sc->b, now_ns + 7 * kMs);
      },
      &s);
  s.b.Init([](Timer& t, uint64_t) { static_cast<Scenario*>(t.arg())->fired.push_back('b'); }, &s);
  wheel.Add(&s.a, 1 * kMs);
  EXPECT_EQ(wheel.Advance(3 * kMs), 1);
  EXPECT_EQ(wheel.Advance(9 * kMs), 0);
  EXPECT_EQ(wheel.Advance(10 * kMs), 1);
  EXPECT_EQ(s.fired, std::vector<char>({'a', 'b'}));
}

TEST(TimerWheel, BigJumpOverManyTimersIsQuick) {
  Log log;
  auto t = MakeTimers(20000, &log);
  TimerWheel wheel({.tick_ns = 100 * kUs});
  for (int i = 0; i < 20000; ++i)
    wheel.Add(&t[i]->timer, (1 + static_cast<uint64_t>(i)) * 7 * kSec);
  // 20000 timers spread over 1.6 days, one Advance over all of them.
  EXPECT_EQ(wheel.Advance(2 * kDay), 20000);
  for (size_t k = 1; k < log.ids.size(); ++k) ASSERT_LT(log.ids[k - 1], log.ids[k]);
}

TEST(TimerWheelDeathTest, DestroyingAPendingTimerAborts) {
  EXPECT_DEATH(
      {
        TimerWheel wheel;
        auto* t = new Timer([](Timer&, uint64_t) {}, nullptr);
        wheel.Add(t, 1 * kSec);
        delete t;
      },
      "destroyed while pending");
}

}  // namespace
}  // namespace ix::core
