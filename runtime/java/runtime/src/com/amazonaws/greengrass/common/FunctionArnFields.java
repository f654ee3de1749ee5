// Evergreen: Lambda function ARN fields (runtime-provided class the genuine Java SDK links against).
// Accepted: arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>] where region and
// account may be empty (system ARNs) and account may be the literal "aws" (reference section 1.7).
// getQualifier() is null when the ARN has none: the genuine Java SDK 1.5.0 LambdaClient treats any
// non-null qualifier as the ARN's and refuses a different InvokeRequest.withQualifier(...).
package com.amazonaws.greengrass.common;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class FunctionArnFields {
  private static final int MAX_ARN_LENGTH = 2048;
  private static final Pattern ARN =
      Pattern.compile(
          "^arn:(aws(?:-[a-z]+)*):lambda:([a-z0-9-]*):([0-9a-zA-Z]*):function:([a-zA-Z0-9_-]+)"
              + "(?::(\\$LATEST|[a-zA-Z0-9_-]+))?$");

  private final String partition;
  private final String region;
  private final String accountId;
  private final String name;
  private final String qualifier;

  private FunctionArnFields(
      String partition, String region, String accountId, String name, String qualifier) {
    this.partition = partition;
    this.region = region;
    this.accountId = accountId;
    this.name = name;
    this.qualifier = qualifier;
  }

  public static FunctionArnFields fromString(String arn) throws InvalidArnException {
    if (arn == null) throw new InvalidArnException("Function ARN is null");
    if (arn.length() > MAX_ARN_LENGTH) {
      throw new InvalidArnException("Function ARN is longer than " + MAX_ARN_LENGTH + " characters");
    }
    Matcher m = ARN.matcher(arn);
    if (!m.matches()) {
      throw new InvalidArnException("Cannot parse given string as a function ARN: \"" + arn + "\"");
    }
    return new FunctionArnFields(
        m.group(1), m.group(2), m.group(3), m.group(4), m.group(5));
  }

  /** unqualified + ":" + qualifier, or unqualified when the qualifier is null/empty (GGC 1.9+). */
  public static String buildFunctionArn(String unqualifiedArn, String qualifier) {
    if (qualifier == null || qualifier.isEmpty()) return unqualifiedArn;
    return unqualifiedArn + ":" + qualifier;
  }

  public String getPartition() {
    return partition;
  }

  public String getRegion() {
    return region;
  }

  public String getAccountId() {
    return accountId;
  }

  public String getName() {
    return name;
  }

  /** The qualifier (version, alias or $LATEST), null when the ARN has none. */
  public String getQualifier() {
    return qualifier;
  }

  public String getUnqualifiedArn() {
    return "arn:" + partition + ":lambda:" + region + ":" + accountId + ":function:" + name;
  }

  public String toArnString() {
    return buildFunctionArn(getUnqualifiedArn(), qualifier);
  }

  @Override
  public String toString() {
    return toArnString();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof FunctionArnFields && ((FunctionArnFields) o).toArnString().equals(toArnString());
  }

  @Override
  public int hashCode() {
    return toArnString().hashCode();
  }
}
