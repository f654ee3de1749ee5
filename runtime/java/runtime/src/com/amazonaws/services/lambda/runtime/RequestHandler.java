// Evergreen: aws-lambda-java-core 1.1.0 RequestHandler (JSON handlers).
package com.amazonaws.services.lambda.runtime;

public interface RequestHandler<I, O> {
  O handleRequest(I input, Context context);
}
