package simcloud

// Server access logging: an AWS::S3::Bucket's LoggingConfiguration, as S3's
// PutBucketLogging checks it when CloudFormation's bucket handler applies
// it on create and on update (docs/sandbox-fidelity.md, "Server access
// logging").
//
// S3 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html):
// the destination bucket must exist, be owned by the source bucket's
// account and be in the source bucket's Region. CloudFormation
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-s3-bucket-loggingconfiguration.html):
// DestinationBucketName, LogFilePrefix and TargetObjectKeyFormat are all
// optional; without DestinationBucketName the bucket logs into itself.
//
// S3 lets a bucket log into itself and so does the sandbox; bucketdesk's
// render refuses it (a bucket named as its project's log bucket), because
// every log delivery is itself logged.

// OutsideBucket is a bucket that exists in an account without a stack of
// the sandbox, such as the server access log bucket that
// deploy/project-account.yaml creates in a project's account. It counts as
// an existing bucket for logging destinations and as a taken name.
type OutsideBucket struct {
	Account, Region, Name string
}

// loggingSchema is AWS::S3::Bucket's LoggingConfiguration property.
var loggingSchema = obj(nil, map[string]*schema{
	"DestinationBucketName": sString,
	"LogFilePrefix":         sString,
	"TargetObjectKeyFormat": obj(nil, map[string]*schema{
		"PartitionedPrefix": obj(nil, map[string]*schema{"PartitionDateSource": enum("EventTime", "DeliveryTime")}),
		"SimplePrefix":      obj(nil, map[string]*schema{}),
	}),
})

// S3's answers to a logging destination it refuses. The messages are S3's:
// "The target bucket for logging does not exist" and "The owner for the
// bucket to be logged and the target bucket must be the same." as S3
// returns them with InvalidTargetBucketForLogging (400), and for another
// Region CrossLocationLoggingProhibited (403) with the description of the
// S3 error code list
// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
const (
	logTargetMissing     = "The target bucket for logging does not exist"
	logTargetOtherOwner  = "The owner for the bucket to be logged and the target bucket must be the same."
	logTargetOtherRegion = "Cross-location logging not allowed. Buckets in one geographic location cannot log information to a bucket in another location."
)

// bucketPlace is where a bucket exists: its account and region.
type bucketPlace struct{ account, region string }

// findBucket returns where the bucket named name exists, in a live stack
// of any account or among the outside buckets. S3's bucket names are
// global, so there is at most one.
func (s *Sandbox) findBucket(name string) (bucketPlace, bool) {
	for st := range s.liveStacks("") {
		if !st.live(func(r *record) bool { return !(r.Type == "AWS::S3::Bucket" && r.Physical == name) }) {
			return bucketPlace{st.Account, st.Region}, true
		}
	}
	for _, b := range s.opts.OutsideBuckets {
		if b.Name == name {
			return bucketPlace{b.Account, b.Region}, true
		}
	}
	return bucketPlace{}, false
}

// outsideBucketTaken reports whether an outside bucket has the name.
func (s *Sandbox) outsideBucketTaken(name string) bool {
	for _, b := range s.opts.OutsideBuckets {
		if b.Name == name {
			return true
		}
	}
	return false
}

// checkLogging checks the LoggingConfiguration of the bucket named name
// (being created or updated in the stack of c) as PutBucketLogging does:
// the destination, the bucket itself when none is named, must exist in
// the bucket's account and region.
func checkLogging(c *rctx, name string, p map[string]any) error {
	lc, ok := p["LoggingConfiguration"].(map[string]any)
	if !ok {
		return nil
	}
	dest := str(lc, "DestinationBucketName")
	if dest == "" || dest == name {
		return nil // the bucket itself, which S3 allows
	}
	at, ok := c.s.findBucket(dest)
	switch {
	case !ok:
		return s3LoggingErr(logTargetMissing)
	case at.account != c.st.Account:
		return s3LoggingErr(logTargetOtherOwner)
	case at.region != c.st.Region:
		return handlerErr("AccessDenied", logTargetOtherRegion+" (Service: S3, Status Code: 403, Error Code: CrossLocationLoggingProhibited)")
	}
	return nil
}

// s3LoggingErr is S3's 400 InvalidTargetBucketForLogging, as
// CloudFormation's bucket handler reports it.
func s3LoggingErr(msg string) error {
	return handlerErr("InvalidRequest", msg+" (Service: S3, Status Code: 400, Error Code: InvalidTargetBucketForLogging)")
}
