package engine

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// CredentialsPackage is what a share link hands over, encrypted: what a
// third party needs to use S3 (and SFTP) from its own systems. Its JSON
// is docs/share-links.md's package format, which the recipient's page
// decrypts and shows.
type CredentialsPackage struct {
	Version int       `json:"version"`
	Project string    `json:"project"`
	User    string    `json:"user"`
	Region  string    `json:"region"`
	Expires time.Time `json:"link_expires_at"`
	// AccessKeyID and SecretAccessKey are empty in an SFTP-only package.
	AccessKeyID     string          `json:"access_key_id,omitempty"`
	SecretAccessKey string          `json:"secret_access_key,omitempty"`
	S3Endpoint      string          `json:"s3_endpoint"`
	Buckets         []PackageBucket `json:"buckets"`
	// Examples are ready to paste: "aws_cli" and "rclone" when the
	// package has an access key, "sftp" when it has SFTP.
	Examples map[string]string `json:"examples"`
	SFTP     *PackageSFTP      `json:"sftp,omitempty"`
}

// PackageBucket is one grant: a bucket, a prefix of it, and the access.
type PackageBucket struct {
	Bucket string      `json:"bucket"`
	Prefix string      `json:"prefix,omitempty"`
	Access core.Access `json:"access"`
	S3URI  string      `json:"s3_uri"`
}

// PackageSFTP is how to reach the user's SFTP access.
type PackageSFTP struct {
	Host        string   `json:"host"`
	User        string   `json:"user"`
	HomeFolders []string `json:"home_folders"`
	// SSHKeys names the public keys that may log in (type, comment and
	// SHA256 fingerprint): the recipient uses the matching private key.
	SSHKeys []string `json:"ssh_keys"`
}

// S3Endpoint is the regional S3 endpoint.
func S3Endpoint(region string) string { return "https://s3." + region + ".amazonaws.com" }

// SFTPHost is the public host name of a Transfer Family server.
func SFTPHost(serverID, region string) string {
	return serverID + ".server.transfer." + region + ".amazonaws.com"
}

// buildPackage assembles the package of user r in project p; keyID and
// secret are "" for an SFTP-only package.
func buildPackage(p *core.Project, r *core.Resource, keyID, secret string, sftp bool, expires time.Time) *CredentialsPackage {
	u := r.Spec.User
	pkg := &CredentialsPackage{
		Version: 1, Project: p.ID, User: r.Name, Region: p.Region, Expires: expires.UTC(),
		AccessKeyID: keyID, SecretAccessKey: secret, S3Endpoint: S3Endpoint(p.Region),
		Buckets: []PackageBucket{}, Examples: map[string]string{},
	}
	var grants []core.Grant
	if u != nil {
		grants = u.Grants
	}
	for _, g := range grants {
		uri := "s3://" + g.Bucket + "/"
		if g.Prefix != "" {
			uri += strings.TrimLeft(g.Prefix, "/")
		}
		pkg.Buckets = append(pkg.Buckets, PackageBucket{Bucket: g.Bucket, Prefix: g.Prefix, Access: g.Access, S3URI: uri})
	}
	if keyID != "" {
		pkg.Examples["aws_cli"] = awsCLIExample(pkg)
		pkg.Examples["rclone"] = rcloneExample(pkg)
	}
	if sftp && u != nil {
		s := &PackageSFTP{
			Host:        SFTPHost(p.TransferServerID, p.Region),
			User:        r.Name,
			HomeFolders: stacks.HomeFolders(grants),
			SSHKeys:     []string{},
		}
		if n := r.Observed.Outputs["SftpUserName"]; n != "" {
			s.User = n
		}
		for _, k := range u.SFTP.SSHKeys {
			s.SSHKeys = append(s.SSHKeys, describeSSHKey(k))
		}
		pkg.SFTP = s
		pkg.Examples["sftp"] = fmt.Sprintf("sftp -i <your private key> %s@%s", s.User, s.Host)
	}
	return pkg
}

func awsCLIExample(pkg *CredentialsPackage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_DEFAULT_REGION=%s\n",
		pkg.AccessKeyID, pkg.SecretAccessKey, pkg.Region)
	for _, g := range pkg.Buckets {
		if canRead(g.Access) {
			fmt.Fprintf(&b, "aws s3 ls %s\n", g.S3URI)
			fmt.Fprintf(&b, "aws s3 cp %sreport.csv ./report.csv\n", g.S3URI)
		}
		if canWrite(g.Access) {
			fmt.Fprintf(&b, "aws s3 cp ./report.csv %sreport.csv\n", g.S3URI)
		}
	}
	return b.String()
}

func canRead(a core.Access) bool  { return a == core.AccessRead || a == core.AccessReadWrite }
func canWrite(a core.Access) bool { return a == core.AccessWrite || a == core.AccessReadWrite }

// rcloneRemote is the name of the remote in the rclone example.
const rcloneRemote = "bucketdesk"

func rcloneExample(pkg *CredentialsPackage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# ~/.config/rclone/rclone.conf\n[%s]\ntype = s3\nprovider = AWS\naccess_key_id = %s\nsecret_access_key = %s\nregion = %s\nendpoint = %s\n\n",
		rcloneRemote, pkg.AccessKeyID, pkg.SecretAccessKey, pkg.Region, pkg.S3Endpoint)
	for _, g := range pkg.Buckets {
		remote := rcloneRemote + ":" + g.Bucket + "/" + strings.TrimLeft(g.Prefix, "/")
		if canRead(g.Access) {
			fmt.Fprintf(&b, "rclone ls %s\n", remote)
		}
		if canWrite(g.Access) {
			fmt.Fprintf(&b, "rclone copy ./outbox %s\n", remote)
		}
	}
	return b.String()
}

// describeSSHKey names a public key without repeating it: type, comment
// and SHA256 fingerprint.
func describeSSHKey(k string) string {
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
	if err != nil {
		return "an SSH key bucketdesk could not read"
	}
	s := pub.Type() + " " + ssh.FingerprintSHA256(pub)
	if comment != "" {
		s += " (" + comment + ")"
	}
	return s
}
