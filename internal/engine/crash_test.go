package engine_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
)

const crashDirEnv = "BUCKETDESK_CRASH_DIR"

// TestCrashChild is the process that gets killed: it accepts operations,
// prints their ids once accepted and keeps working until SIGKILL.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashRecovery as a subprocess")
	}
	sb := simcloud.ZeroOptions()
	sb.ResourceDuration = 20 * time.Millisecond
	// A short visibility timeout: the jobs the killed process held come
	// back soon after the restart instead of after a minute.
	l := open(t, dir, sb, func(c *setup.LocalConfig) {
		c.Workers = 2
		c.Visibility = 2 * time.Second
	})
	ctx := t.Context()
	l.Start(ctx)
	for i := range 16 {
		spec := bucket(fmt.Sprintf("crash-%02d", i))
		if i%4 == 3 {
			spec = user(fmt.Sprintf("crash-user-%02d", i), 1)
		}
		op, err := l.Engine.Service.Create(ctx, alice, "demo", spec)
		if err != nil {
			fmt.Printf("error %v\n", err)
			continue
		}
		fmt.Printf("accepted %s\n", op.ID)
	}
	fmt.Println("ready")
	select {} // until killed
}

// A process killed with SIGKILL while operations are queued and in flight,
// restarted on the same files: every accepted operation reaches exactly
// one terminal state, and no token started two stack operations.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var accepted []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "accepted "); ok {
			accepted = append(accepted, id)
		}
		if line == "ready" {
			break
		}
		if strings.HasPrefix(line, "error ") {
			t.Errorf("child: %s", line)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(accepted) != 16 {
		t.Fatalf("child accepted %d operations before it was killed, want 16", len(accepted))
	}

	l := open(t, dir, simcloud.ZeroOptions())
	ctx := t.Context()
	before := 0
	for _, id := range accepted {
		if op, err := l.Store.GetOperation(ctx, id); err == nil && op.Status.Terminal() {
			before++
		}
	}
	t.Logf("killed with %d of %d operations finished, %d stack operations started", before, len(accepted), len(l.Sandbox.Operations()))
	l.Start(ctx)
	settleAndReconcile(t, l)

	for _, id := range accepted {
		op, err := l.Store.GetOperation(ctx, id)
		if err != nil {
			t.Errorf("operation %s lost: %v", id, err)
			continue
		}
		r, err := l.Store.GetResource(ctx, core.ResourceKey{Project: op.Project, StackName: op.StackName})
		if err != nil {
			t.Errorf("%s: resource: %v", id, err)
			continue
		}
		if r.Op.ID != id {
			t.Errorf("%s: the resource's operation is %s", id, r.Op.ID)
			continue
		}
		if op.Status != r.Op.Status || op.Status != core.OpSucceeded {
			t.Errorf("%s (%s): history %s, resource %s (%s); want one terminal state, succeeded", id, op.Name, op.Status, r.Op.Status, r.Op.Error)
		}
		if r.Lock != nil {
			t.Errorf("%s: lock left", id)
		}
	}
	assertOneStackOperationPerToken(t, l.Sandbox)
	assertMirrors(t, l, "demo")
}
