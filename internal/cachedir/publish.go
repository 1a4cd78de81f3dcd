package cachedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// completeMarker is written last into a directory entry; a directory without it is not an entry.
const completeMarker = ".complete"

// Logf receives progress lines (waiting on another writer); nil is silent.
type Logf func(format string, args ...any)

// DirComplete reports whether the directory entry at path is complete.
func DirComplete(path string) bool {
	_, err := os.Stat(filepath.Join(path, completeMarker))
	return err == nil
}

// FileComplete reports whether the file entry at path is complete (published files are always complete).
func FileComplete(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// Dir makes sure the directory entry at path is complete, calling fill with a fresh, empty private directory to
// build it when it is not. It returns built=true when this call filled it.
func Dir(path string, log Logf, fill func(tmp string) error) (built bool, err error) {
	return publish(path, log, DirComplete, func(tmp string) error {
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return err
		}
		if err := fill(tmp); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, completeMarker), nil, 0o644)
	})
}

// File makes sure the file entry at path exists, calling fill with a private path (not yet created) to write it
// when it does not. It returns built=true when this call wrote it.
func File(path string, log Logf, fill func(tmp string) error) (built bool, err error) {
	return publish(path, log, FileComplete, func(tmp string) error {
		if err := fill(tmp); err != nil {
			return err
		}
		if !FileComplete(tmp) {
			return fmt.Errorf("cache entry %s: the writer produced no file", path)
		}
		return nil
	})
}

func publish(path string, log Logf, complete func(string) bool, fill func(tmp string) error) (bool, error) {
	if complete(path) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("cache entry %s: %w", path, err)
	}
	unlock, err := Lock(path, log)
	if err != nil {
		return false, err
	}
	defer unlock()
	if complete(path) { // another process published it while this one waited
		return false, nil
	}
	if err := removeLeftovers(path); err != nil {
		return false, err
	}
	tmp, err := tempName(path)
	if err != nil {
		return false, err
	}
	if err := fill(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return false, fmt.Errorf("cache entry %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.RemoveAll(tmp)
		return false, fmt.Errorf("cache entry %s: publishing: %w", path, err)
	}
	return true, nil
}

// Lock takes the exclusive lock of a cache entry (flock on <path>.lock), waiting for another holder and saying so.
// The lock file stays: removing it while another process waits on it would split the lock.
func Lock(path string, log Logf) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cache lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("cache lock %s: %w", path, err)
		}
		if log != nil {
			log("cache: waiting for another process that is building %s", filepath.Base(path))
		}
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("cache lock %s: %w", path, err)
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// removeLeftovers removes what killed writers of this entry left: private temporary paths, the shared temporary
// path of the older layout, and an entry that never got its .complete marker. Only the lock holder calls it, so no
// live writer owns them, and no reader trusts them.
func removeLeftovers(path string) error {
	stale, err := filepath.Glob(path + ".tmp-*")
	if err != nil {
		return err
	}
	stale = append(stale, path+".tmp")
	if _, err := os.Lstat(path); err == nil {
		stale = append(stale, path)
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("cache entry %s: removing a killed writer's leftovers: %w", path, err)
		}
	}
	return nil
}

// tempName is a private path beside path, on the same filesystem so that the rename is atomic.
func tempName(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("cache entry %s: %w", path, err)
	}
	name := f.Name()
	f.Close()
	return name, os.Remove(name)
}
