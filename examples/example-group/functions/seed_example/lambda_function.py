# The example function of the Greengrass v1 developer guide ("Retrieve the input MQTT topic"),
# unchanged: it reads the input topic from the context and republishes a summary.
import greengrasssdk
import logging

client = greengrasssdk.client('iot-data')
OUTPUT_TOPIC = 'test/topic_results'


def get_input_topic(context):
    try:
        topic = context.client_context.custom['subject']
    except Exception as e:
        logging.error('Topic could not be parsed. ' + repr(e))
    return topic


def get_input_message(event):
    try:
        message = event['test-key']
    except Exception as e:
        logging.error('Message could not be parsed. ' + repr(e))
    return message


def function_handler(event, context):
    try:
        input_topic = get_input_topic(context)
        input_message = get_input_message(event)
        response = 'Invoked on topic "%s" with message "%s"' % (input_topic, input_message)
        logging.info(response)
    except Exception as e:
        logging.error(e)

    client.publish(topic=OUTPUT_TOPIC, payload=response)

    return
