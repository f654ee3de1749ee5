// Evergreen SDK: publish request (topic, payload, optional queue-full policy).
package com.amazonaws.greengrass.javasdk.model;

public class PublishRequest {
  private String topic;
  private java.nio.ByteBuffer payload;
  private QueueFullPolicy queueFullPolicy;

  public String getTopic() {
    return topic;
  }

  public void setTopic(String topic) {
    this.topic = topic;
  }

  public PublishRequest withTopic(String topic) {
    this.topic = topic;
    return this;
  }

  public java.nio.ByteBuffer getPayload() {
    return payload;
  }

  public void setPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
  }

  public PublishRequest withPayload(java.nio.ByteBuffer payload) {
    this.payload = payload;
    return this;
  }

  public QueueFullPolicy getQueueFullPolicy() {
    return queueFullPolicy;
  }

  public void setQueueFullPolicy(QueueFullPolicy queueFullPolicy) {
    this.queueFullPolicy = queueFullPolicy;
  }

  public PublishRequest withQueueFullPolicy(QueueFullPolicy queueFullPolicy) {
    this.queueFullPolicy = queueFullPolicy;
    return this;
  }
}
