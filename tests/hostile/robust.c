/* Hostile guest program, attack class 7 of issue 13: robust futex lists, which the VMM emulates
 * (set_robust_list / get_robust_list) and walks itself at thread exit (vmm/robust_futex.h).
 *  - robust-thread: a PTHREAD_MUTEX_ROBUST mutex held by a thread that exits: the next lock gets
 *    EOWNERDEAD, pthread_mutex_consistent works, and the mutex is usable again;
 *  - robust-pshared: a process-shared robust mutex in MAP_SHARED memory held by a forked child
 *    that _exit()s: the parent's lock gets EOWNERDEAD;
 *  - robust-get: get_robust_list(0) returns the head and length that set_robust_list set;
 *  - robust-next-into-region, robust-offset-into-region, robust-pending-into-region: a thread
 *    registers a list in ordinary memory whose `next`, whose futex_offset (from a valid entry),
 *    or whose list_op_pending leads into the VMM-private region, then exits: the process
 *    survives, and each is a protection violation (counted in "expect-violations"); then
 *    robust-thread-after: robust mutexes still work. */
#include "hostile.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct RobustList {
  struct RobustList* next;
};
struct RobustHead {
  struct RobustList list;
  long futex_offset;
  struct RobustList* pending;
};

static pthread_mutex_t m;
static void* LockAndExit(void* arg) {
  (void)arg;
  pthread_mutex_lock(&m);
  return NULL;  /* exits holding it */
}

static void RobustThread(const char* name) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&m, &a);
  pthread_t t;
  pthread_create(&t, NULL, LockAndExit, NULL);
  pthread_join(t, NULL);
  int r1 = pthread_mutex_lock(&m);
  int c = r1 == EOWNERDEAD ? pthread_mutex_consistent(&m) : -1;
  int u = pthread_mutex_unlock(&m);
  int r2 = pthread_mutex_lock(&m);
  pthread_mutex_unlock(&m);
  if (r1 == EOWNERDEAD && c == 0 && u == 0 && r2 == 0) printf("%s ok\n", name);
  else printf("%s FAILED lock=%s consistent=%d unlock=%d relock=%d\n", name, strerrorname_np(r1), c, u, r2);
}

static void RobustShared(void) {
  pthread_mutex_t* sm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(sm, &a);
  pid_t c = fork();
  if (c == 0) {
    pthread_mutex_lock(sm);
    _exit(0);
  }
  int st;
  waitpid(c, &st, 0);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 10;
  int r = pthread_mutex_timedlock(sm, &ts);
  if (r == EOWNERDEAD) {
    pthread_mutex_consistent(sm);
    pthread_mutex_unlock(sm);
    printf("robust-pshared ok\n");
  } else {
    printf("robust-pshared FAILED lock after the holder's _exit: %s\n", strerrorname_np(r));
  }
  munmap(sm, 4096);
}

/* The hostile lists, and the thread that registers one and exits without unlocking. */
static struct RobustHead head;
static struct RobustList entry;
static volatile long got_head, got_len, get_ret, set_ret;
static void* RegisterAndExit(void* arg) {
  (void)arg;
  set_ret = RawSyscall6(SYS_set_robust_list, (long)&head, sizeof(head), 0, 0, 0, 0);
  long h = 0, l = 0;
  get_ret = RawSyscall6(SYS_get_robust_list, 0, (long)&h, (long)&l, 0, 0, 0);
  got_head = h;
  got_len = l;
  RawSyscall6(SYS_exit, 0, 0, 0, 0, 0, 0);  /* with the list still registered */
  return NULL;
}

static int HostileList(const char* name, uintptr_t priv) {
  memset(&head, 0, sizeof(head));
  memset(&entry, 0, sizeof(entry));
  head.list.next = &head.list;
  if (strcmp(name, "robust-next-into-region") == 0) {
    head.list.next = (struct RobustList*)priv;
  } else if (strcmp(name, "robust-offset-into-region") == 0) {
    head.list.next = &entry;
    entry.next = &head.list;
    head.futex_offset = (long)(priv - (uintptr_t)&entry);
  } else {
    head.pending = (struct RobustList*)priv;
  }
  pthread_t t;
  pthread_create(&t, NULL, RegisterAndExit, NULL);
  pthread_join(t, NULL);
  int got_ok = set_ret == 0 && get_ret == 0 && got_head == (long)&head && got_len == (long)sizeof(head);
  printf("%s survived (the thread exited; the process goes on)\n", name);
  return got_ok;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  uintptr_t base = RegionOrExit();
  RobustThread("robust-thread");
  RobustShared();
  int get_ok = 1;
  get_ok &= HostileList("robust-next-into-region", base + 0x1000);
  get_ok &= HostileList("robust-offset-into-region", base + 0x2000);
  get_ok &= HostileList("robust-pending-into-region", base + 0x3000);
  if (get_ok) printf("robust-get ok\n");
  else printf("robust-get FAILED set=%ld get=%ld head=0x%lx (set 0x%lx) len=%ld\n", set_ret, get_ret, got_head,
              (long)&head, got_len);
  /* Still alive, and robust mutexes still work. */
  RobustThread("robust-thread-after");
  printf("expect-violations 3\n");
  printf("done\n");
  return 0;
}
