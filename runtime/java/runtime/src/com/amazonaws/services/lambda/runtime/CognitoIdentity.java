// Evergreen: aws-lambda-java-core 1.1.0 CognitoIdentity (always null on Greengrass).
package com.amazonaws.services.lambda.runtime;

public interface CognitoIdentity {
  String getIdentityId();

  String getIdentityPoolId();
}
