// Evergreen: aws-lambda-java-core 1.1.0 LambdaLogger; lines go to the function log at INFO.
package com.amazonaws.services.lambda.runtime;

public interface LambdaLogger {
  void log(String string);
}
