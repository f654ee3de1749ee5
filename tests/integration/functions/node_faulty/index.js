'use strict';
// Node test function for errors. event.mode:
//   ok     -> callback(null, {tag, pid})        fail  -> callback(new Error('boom from node: <tag>'))
//   throw  -> throws a TypeError                 exit  -> process.exit(1) (a crash: Unhandled)
//   sleep  -> calls back after event.ms          drain -> never calls back (timer of 20 ms, then drained)
//   async  -> async handler result               log   -> console.log/warn/error lines, then ok
exports.handler = function handler(event, context, callback) {
    const tag = event.tag;
    switch (event.mode) {
    case 'fail': return callback(new Error(`boom from node: ${tag}`));
    case 'throw': throw new TypeError(`thrown from node: ${tag}`);
    case 'exit': process.exit(1); break;
    case 'sleep': setTimeout(() => callback(null, { tag, pid: process.pid }), event.ms); return undefined;
    case 'drain': setTimeout(() => { globalThis.drained = tag; }, 20); return undefined;
    case 'async': return (async () => ({ tag, async: true }))();
    case 'log':
        console.log(`log line from node ${tag}`);
        console.warn(`warn line from node ${tag}`);
        console.error(`error line from node ${tag}`);
        break;
    default: break;
    }
    return callback(null, { tag, pid: process.pid });
};
