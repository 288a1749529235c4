package launcher

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// magic ends a launcher that carries an archive.
const magic = "\x00skiff-payload-1"

const trailerSize = int64(8 + sha256.Size*2 + len(magic))

// Payload is the archive a launcher carries.
type Payload struct {
	Offset, Size int64
	// ID is the archive's sha256 in hex: the folder it unpacks into.
	ID string
}

// ErrNoPayload says the file is not a launcher with an archive: a plain
// build of skiff, or a download cut short.
var ErrNoPayload = errors.New("no skiff archive at the end of the file")

// Find reads the trailer at the end of f.
func Find(f io.ReaderAt, size int64) (Payload, error) {
	if size < trailerSize {
		return Payload{}, ErrNoPayload
	}
	t := make([]byte, trailerSize)
	if _, err := f.ReadAt(t, size-trailerSize); err != nil {
		return Payload{}, fmt.Errorf("reading the trailer: %w", err)
	}
	if !bytes.HasSuffix(t, []byte(magic)) {
		return Payload{}, ErrNoPayload
	}
	n := int64(binary.BigEndian.Uint64(t[:8]))
	id := string(t[8 : 8+sha256.Size*2])
	if _, err := hex.DecodeString(id); err != nil || n <= 0 || n > size-trailerSize {
		return Payload{}, fmt.Errorf("%w: the trailer is damaged", ErrNoPayload)
	}
	return Payload{Offset: size - trailerSize - n, Size: n, ID: id}, nil
}

// Read returns the archive's bytes, checked against its ID: a launcher
// damaged on disk must not unpack into the folder of the good one.
func (p Payload) Read(f io.ReaderAt) ([]byte, error) {
	data := make([]byte, p.Size)
	if _, err := f.ReadAt(data, p.Offset); err != nil {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	return data, p.check(data)
}

// Map is Read without the copy: the archive mapped read-only from the
// page cache. Reading 65 MB into fresh memory cost ~0.2 s of a first
// start here, in page faults. The mapping lasts until the process execs
// skiff; where the file cannot be mapped, Map reads it.
func (p Payload) Map(f *os.File) ([]byte, error) {
	start := p.Offset &^ int64(os.Getpagesize()-1)
	m, err := unix.Mmap(int(f.Fd()), start, int(p.Offset-start+p.Size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return p.Read(f)
	}
	data := m[p.Offset-start:]
	if err := p.check(data); err != nil {
		_ = unix.Munmap(m) // unused from here; the error is the check's
		return nil, err
	}
	return data, nil
}

func (p Payload) check(data []byte) error {
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != p.ID {
		return fmt.Errorf("the archive does not match its sha256 %s: the file is damaged, download it again", p.ID)
	}
	return nil
}

// Append writes launcher, then archive and its trailer, to out.
func Append(out io.Writer, launcher, archive []byte) error {
	sum := sha256.Sum256(archive)
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(len(archive)))
	for _, b := range [][]byte{launcher, archive, size[:], []byte(hex.EncodeToString(sum[:])), []byte(magic)} {
		if _, err := out.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Open finds the payload of the launcher at path.
func Open(path string) (*os.File, Payload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Payload{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Payload{}, err
	}
	p, err := Find(f, st.Size())
	if err != nil {
		f.Close()
		return nil, Payload{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, p, nil
}
