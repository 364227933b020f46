package soak

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ServerOptions say how to start the server.
type ServerOptions struct {
	// Bin is the bucketdesk binary.
	Bin string
	// DataDir is the data directory (it must exist).
	DataDir string
	// Args are the flags after "serve --addr 127.0.0.1:0 --data-dir DIR".
	Args []string
	// StartTimeout bounds the wait for the "running at" line.
	StartTimeout time.Duration
}

// Server is a running `bucketdesk serve` subprocess.
type Server struct {
	URL     string
	LogPath string
	// Password is the demo users' password (BUCKETDESK_DEMO_PASSWORD):
	// never printed.
	Password string

	cmd    *exec.Cmd
	log    *redactor
	done   chan struct{} // closed when the process has exited
	err    error         // its exit error, once done
	copies sync.WaitGroup
}

var runningRe = regexp.MustCompile(`bucketdesk is running at (http://[^\s]+)`)

// ParseRunningURL finds the server's URL in a line of its standard output.
func ParseRunningURL(line string) (string, bool) {
	m := runningRe.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// NewPassword returns a random password.
func NewPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// StartServer runs `bin serve` on a loopback port chosen by the kernel,
// with a fresh random demo password, its standard output and error into
// the log file in the data directory, and waits for the line that tells
// its URL. The process is in its own process group (a Ctrl-C meant for the
// soak does not reach it) and is killed if the soak dies.
func StartServer(ctx context.Context, o ServerOptions) (*Server, error) {
	bin := o.Bin
	if !strings.ContainsRune(bin, os.PathSeparator) {
		if p, err := exec.LookPath(bin); err == nil {
			bin = p
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("the bucketdesk binary %s: %w (make build makes bin/bucketdesk)", o.Bin, err)
	}
	s := &Server{Password: NewPassword(), LogPath: filepath.Join(o.DataDir, LogName), done: make(chan struct{})}
	f, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	s.log = &redactor{w: f, secret: []byte(s.Password)}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", o.DataDir}, o.Args...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(withoutEnv(os.Environ(), "BUCKETDESK_DEMO_PASSWORD", "BUCKETDESK_ADDR", "BUCKETDESK_DATA_DIR"),
		"BUCKETDESK_DEMO_PASSWORD="+s.Password)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", o.Bin, err)
	}
	urls := make(chan string, 1)
	s.copies.Add(2)
	go func() {
		defer s.copies.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			s.log.Write([]byte("stdout: " + line + "\n"))
			if u, ok := ParseRunningURL(line); ok && !found {
				found = true
				urls <- u
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		defer s.copies.Done()
		_, _ = io.Copy(s.log, stderr)
	}()
	go func() {
		s.copies.Wait() // Wait must not close the pipes before they are read
		s.err = s.cmd.Wait()
		s.log.flush()
		f.Close()
		close(s.done)
	}()

	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s.URL = <-urls:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("the server did not start (%v): %s", s.err, s.startFailure())
	case <-t.C:
		s.Kill()
		return nil, fmt.Errorf("the server did not say where it runs within %v; its log: %s", timeout, s.LogPath)
	case <-ctx.Done():
		s.Kill()
		return nil, ctx.Err()
	}
}

// startFailure explains why the server exited before it ran, from the
// tail of its log.
func (s *Server) startFailure() string {
	tail := tailLines(s.LogPath, 6)
	var b strings.Builder
	for _, l := range tail {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "-") {
			if b.Len() > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(strings.TrimSpace(l))
		}
		if b.Len() > 600 {
			break
		}
	}
	msg := b.String()
	if m := regexp.MustCompile(`flag provided but not defined: (-\S+)`).FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("this bucketdesk binary does not know the flag %s that the soak passed to it (a newer server flag, e.g. from --short-retention or --server-flag); rebuild the binary or leave the flag out. Its log: %s", m[1], s.LogPath)
	}
	if msg == "" {
		msg = "no output"
	}
	return msg + " (log: " + s.LogPath + ")"
}

func tailLines(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	// Usage text follows a flag error: keep the error line when there is one.
	for i, l := range lines {
		if strings.Contains(l, "flag provided but not defined") || strings.Contains(l, "invalid value") {
			return lines[i:min(i+1, len(lines))]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Done is closed when the server has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Exited reports whether the server has exited, and how.
func (s *Server) Exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM and waits up to grace for the exit, then kills the
// server. It returns how the server ended.
func (s *Server) Stop(grace time.Duration) (string, error) {
	if done, err := s.Exited(); done {
		return "", fmt.Errorf("the server had already exited: %v", errOrZero(err))
	}
	start := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.done:
		if s.err != nil {
			return "", fmt.Errorf("the server exited with %v after SIGTERM", s.err)
		}
		return fmt.Sprintf("exited 0, %.1f s after SIGTERM", time.Since(start).Seconds()), nil
	case <-t.C:
		s.Kill()
		return "", fmt.Errorf("the server did not exit within %v of SIGTERM and was killed", grace)
	}
}

func errOrZero(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Kill kills the server (and anything it started in its process group)
// and waits for it; it is safe to call more than once.
func (s *Server) Kill() {
	if done, _ := s.Exited(); done {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
}

func withoutEnv(env []string, keys ...string) []string {
	out := env[:0:0]
next:
	for _, e := range env {
		for _, k := range keys {
			if strings.HasPrefix(e, k+"=") {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// redactor writes to w with every occurrence of secret replaced; writes of
// whole lines (as the copies above do, line by line or in pipe-sized
// chunks) cannot split a secret except at a chunk boundary, which the
// carried tail covers.
type redactor struct {
	mu     sync.Mutex
	w      io.Writer
	secret []byte
	tail   []byte
}

var redacted = []byte("[redacted]")

func (r *redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	buf := append(r.tail, p...)
	buf = bytes.ReplaceAll(buf, r.secret, redacted)
	// Keep back what could be the start of a secret split across writes.
	keep := 0
	if n := len(r.secret) - 1; n > 0 {
		for k := min(n, len(buf)); k > 0; k-- {
			if bytes.HasPrefix(r.secret, buf[len(buf)-k:]) {
				keep = k
				break
			}
		}
	}
	r.tail = append([]byte(nil), buf[len(buf)-keep:]...)
	if _, err := r.w.Write(buf[:len(buf)-keep]); err != nil && !errors.Is(err, os.ErrClosed) {
		return len(p), nil // a log write failure must not stop the server's pipe
	}
	return len(p), nil
}

// flush writes what was kept back.
func (r *redactor) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(r.tail)
	r.tail = nil
}
