/* mksh's way of running a command (issue 4), first thing in the process.  SIGCHLD is blocked
 * while the job is set up; a SIGCHLD handler that runs before the job is started only notes it
 * (held), and the job start sends SIGCHLD again to the process itself, SIGCHLD still blocked
 * (mksh's j_startjob: kill(procpid, SIGCHLD)); then sigsuspend until the handler has reaped the
 * child.  Here the child is dead before the job starts, and the handler runs once during setup.
 *
 * The child's SIGCHLD arrives while the guest blocks SIGCHLD, in the first milliseconds of the
 * process: the kernel may give it to the runtime's initial thread, which used to drop it, and the
 * parent then waited in sigsuspend for ever beside a zombie.  alarm() ends such a run (SIGALRM). */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t job_started, held, reaped, status;
static pid_t child;

static void on_sigchld(int sig)
{
    (void)sig;
    if (!job_started) {
        held = 1;
        return;
    }
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        if (pid == child)
            reaped = 1, status = WEXITSTATUS(st);
}

int main(void)
{
    sigset_t chld, old, none;
    struct sigaction sa = { .sa_handler = on_sigchld };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &chld, &old);

    alarm(5);
    child = fork();
    if (child == 0)
        _exit(7);
    siginfo_t si;
    waitid(P_PID, child, &si, WEXITED | WNOWAIT);  /* dead, not reaped: its SIGCHLD is pending */
    while (!held)                                  /* the handler runs during the job's setup */
        sigsuspend(&none);

    job_started = 1;
    if (held) {
        held = 0;
        kill(getpid(), SIGCHLD);
    }
    while (!reaped)
        sigsuspend(&none);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("reaped the child: status %d\n", status);
    return 0;
}
