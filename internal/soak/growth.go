package soak

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sample is one measurement of the server's footprint.
type Sample struct {
	At       time.Duration // since the start of the churn
	Phase    string        // churn, drain, settle
	Accepted int64         // operations accepted so far
	CacheDB  int64         // bytes of bucketdesk.db
	Sandbox  int64         // bytes of sandbox.db
	Data     int64         // bytes of the whole data directory, the server's log excepted
	// Disk is what Data occupies on disk (allocated blocks): bbolt extends
	// its files in steps (doubling up to 16 MB, then 16 MB at a time) and
	// writes pages into them as it needs them, so this grows smoothly
	// where the file sizes jump.
	Disk int64
	// CacheDisk and SandboxDisk are what bucketdesk.db and sandbox.db
	// occupy on disk.
	CacheDisk, SandboxDisk int64
	RSS                    int64 // the server's resident set, bytes; -1 unknown
	// Heap is the server's Go heap (HeapMetric), bytes; -1 unknown.
	Heap int64
}

// LogName is the server's log file in the data directory.
const LogName = "bucketdesk-soak-server.log"

// Measure takes one sample of dir and of the process pid.
func Measure(dir string, pid int) Sample {
	s := Sample{CacheDB: fileSize(filepath.Join(dir, "bucketdesk.db")), Sandbox: fileSize(filepath.Join(dir, "sandbox.db")), RSS: -1, Heap: -1}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == LogName {
			return nil
		}
		if info, err := d.Info(); err == nil {
			s.Data += info.Size()
			disk := info.Size()
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				disk = st.Blocks * 512
			}
			s.Disk += disk
			switch d.Name() {
			case "bucketdesk.db":
				s.CacheDisk = disk
			case "sandbox.db":
				s.SandboxDisk = disk
			}
		}
		return nil
	})
	if pid > 0 {
		s.RSS = rss(pid)
	}
	return s
}

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

// rss reads VmRSS from /proc/<pid>/status; -1 when it cannot.
func rss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(r io.Reader) int64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return -1
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		unit := int64(1024) // "kB"
		if len(f) > 1 && strings.EqualFold(f[1], "mB") {
			unit = 1 << 20
		}
		return n * unit
	}
	return -1
}

// Growth summarises the samples: the footprint at the start, half way
// through the churn and at its end, so that a plateau shows.
type Growth struct {
	OK bool // enough samples for the halves
	// First and Second are the data (and RSS) growth in the first and the
	// second half of the churn, bytes.
	DataFirst, DataSecond int64
	DiskFirst, DiskSecond int64
	RSSFirst, RSSSecond   int64
	RSSKnown              bool
	HeapFirst, HeapSecond int64
	HeapKnown             bool
	// PerKOps is the data directory's size per 1,000 accepted operations
	// at the end, GrowthPerKOps its growth since the first sample per
	// 1,000 operations.
	PerKOps, GrowthPerKOps float64
	// CachePerKOps and SandboxPerKOps are the on-disk growth of
	// bucketdesk.db and sandbox.db per 1,000 operations: what an operator
	// sizes a disk with.
	CachePerKOps, SandboxPerKOps float64
	Accepted                     int64
	Start, Mid, End, Last        Sample
}

// PhaseEndOfChurn labels the sample taken when the churn stopped.
const PhaseEndOfChurn = "end of churn"

// SummarizeGrowth computes the growth over the churn from samples taken at
// increasing times; churn is how long the churn lasted. Start is the first
// sample, End the one labelled PhaseEndOfChurn (else the last one taken
// within the churn's duration), Mid the one closest to half way between
// them; Last is the last sample of all (after the drain).
func SummarizeGrowth(samples []Sample, churn time.Duration) Growth {
	var g Growth
	if len(samples) == 0 {
		return g
	}
	g.Start, g.Last = samples[0], samples[len(samples)-1]
	g.End = g.Start
	labelled := false
	for _, s := range samples {
		if s.Phase == PhaseEndOfChurn {
			g.End, labelled = s, true
		}
	}
	for _, s := range samples {
		if !labelled && s.At <= churn+time.Second/2 {
			g.End = s
		}
	}
	half := g.Start.At + (g.End.At-g.Start.At)/2
	g.Mid = g.Start
	for _, s := range samples {
		if s.At > g.End.At {
			break
		}
		if absDur(s.At-half) < absDur(g.Mid.At-half) {
			g.Mid = s
		}
	}
	g.OK = g.Mid.At > g.Start.At && g.End.At > g.Mid.At
	g.DataFirst, g.DataSecond = g.Mid.Data-g.Start.Data, g.End.Data-g.Mid.Data
	g.DiskFirst, g.DiskSecond = g.Mid.Disk-g.Start.Disk, g.End.Disk-g.Mid.Disk
	g.RSSKnown = g.Start.RSS >= 0 && g.Mid.RSS >= 0 && g.End.RSS >= 0
	if g.RSSKnown {
		g.RSSFirst, g.RSSSecond = g.Mid.RSS-g.Start.RSS, g.End.RSS-g.Mid.RSS
	}
	g.HeapKnown = g.Start.Heap >= 0 && g.Mid.Heap >= 0 && g.End.Heap >= 0
	if g.HeapKnown {
		g.HeapFirst, g.HeapSecond = g.Mid.Heap-g.Start.Heap, g.End.Heap-g.Mid.Heap
	}
	g.Accepted = g.Last.Accepted
	if g.Accepted > 0 {
		perK := func(b int64) float64 { return float64(b) / float64(g.Accepted) * 1000 }
		g.PerKOps = perK(g.Last.Data)
		g.GrowthPerKOps = perK(g.Last.Data - g.Start.Data)
		g.CachePerKOps = perK(g.Last.CacheDisk - g.Start.CacheDisk)
		g.SandboxPerKOps = perK(g.Last.SandboxDisk - g.Start.SandboxDisk)
	}
	return g
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// MB formats bytes as megabytes with one decimal.
func MB(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// SignedMB formats a growth in megabytes with its sign.
func SignedMB(b int64) string { return fmt.Sprintf("%+.1f MB", float64(b)/(1<<20)) }
