package simcloud

import "testing"

// A sandbox file written when buckets had only an object count keeps
// that many objects: a bucket that could not be deleted still cannot.
func TestDecodeObjectsOfAnOlderFile(t *testing.T) {
	b, err := decodeObjects(u64(3))
	if err != nil {
		t.Fatal(err)
	}
	if v, m := b.count(); v != 3 || m != 0 {
		t.Fatalf("an older count of 3: %d versions, %d markers", v, m)
	}
	if b, err = decodeObjects([]byte(`{"keys":{"a":[{"key":"a","version_id":"null"}]}}`)); err != nil || len(b.Keys) != 1 {
		t.Fatalf("JSON: %+v, %v", b, err)
	}
}
