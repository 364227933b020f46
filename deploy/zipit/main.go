// Command zipit writes the Lambda deployment package: a zip of the given
// files, each stored at the top level under its base name with mode 0755
// (Lambda runs bootstrap only if it is executable) and a fixed time, so the
// same binary gives the same zip. It prints the zip's size. `make package`
// uses it so that packaging needs nothing but Go.
//
// Usage: go run ./deploy/zipit -o bin/bucketdesk-lambda.zip bin/lambda/bootstrap
package main

import (
	"archive/zip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("o", "", "the zip file to write")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "Usage: zipit -o out.zip file...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	size, err := write(*out, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "zipit:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d bytes (%.1f MiB)\n", *out, size, float64(size)/(1<<20))
}

// modTime is the fixed time of every entry (zip cannot store times before 1980).
var modTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// write zips files into out and returns the zip's size.
func write(out string, files []string) (size int64, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".zipit-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := zip.NewWriter(tmp)
	for _, name := range files {
		if err := add(zw, name); err != nil {
			return 0, err
		}
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if size, err = tmp.Seek(0, io.SeekCurrent); err != nil {
		return 0, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	return size, os.Rename(tmp.Name(), out)
}

func add(zw *zip.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New(name + ": not a regular file")
	}
	h := &zip.FileHeader{Name: filepath.Base(name), Method: zip.Deflate, Modified: modTime}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}
