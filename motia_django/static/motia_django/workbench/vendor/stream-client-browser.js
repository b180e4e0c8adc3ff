/* @motiadev/stream-client-browser@0.17.14-beta.196 (Elastic-2.0) with @motiadev/stream-client and uuid (MIT),
 * bundled as one ES module by motia_django/workbench/client_build/build.sh (esbuild, format=esm, not minified).
 * Do not edit: re-run the script. */

// node_modules/uuid/dist/stringify.js
var byteToHex = [];
for (let i = 0; i < 256; ++i) {
  byteToHex.push((i + 256).toString(16).slice(1));
}
function unsafeStringify(arr, offset = 0) {
  return (byteToHex[arr[offset + 0]] + byteToHex[arr[offset + 1]] + byteToHex[arr[offset + 2]] + byteToHex[arr[offset + 3]] + "-" + byteToHex[arr[offset + 4]] + byteToHex[arr[offset + 5]] + "-" + byteToHex[arr[offset + 6]] + byteToHex[arr[offset + 7]] + "-" + byteToHex[arr[offset + 8]] + byteToHex[arr[offset + 9]] + "-" + byteToHex[arr[offset + 10]] + byteToHex[arr[offset + 11]] + byteToHex[arr[offset + 12]] + byteToHex[arr[offset + 13]] + byteToHex[arr[offset + 14]] + byteToHex[arr[offset + 15]]).toLowerCase();
}

// node_modules/uuid/dist/rng.js
var getRandomValues;
var rnds8 = new Uint8Array(16);
function rng() {
  if (!getRandomValues) {
    if (typeof crypto === "undefined" || !crypto.getRandomValues) {
      throw new Error("crypto.getRandomValues() not supported. See https://github.com/uuidjs/uuid#getrandomvalues-not-supported");
    }
    getRandomValues = crypto.getRandomValues.bind(crypto);
  }
  return getRandomValues(rnds8);
}

// node_modules/uuid/dist/native.js
var randomUUID = typeof crypto !== "undefined" && crypto.randomUUID && crypto.randomUUID.bind(crypto);
var native_default = { randomUUID };

// node_modules/uuid/dist/v4.js
function _v4(options, buf, offset) {
  options = options || {};
  const rnds = options.random ?? options.rng?.() ?? rng();
  if (rnds.length < 16) {
    throw new Error("Random bytes length must be >= 16");
  }
  rnds[6] = rnds[6] & 15 | 64;
  rnds[8] = rnds[8] & 63 | 128;
  if (buf) {
    offset = offset || 0;
    if (offset < 0 || offset + 16 > buf.length) {
      throw new RangeError(`UUID byte range ${offset}:${offset + 15} is out of buffer bounds`);
    }
    for (let i = 0; i < 16; ++i) {
      buf[offset + i] = rnds[i];
    }
    return buf;
  }
  return unsafeStringify(rnds);
}
function v4(options, buf, offset) {
  if (native_default.randomUUID && !buf && !options) {
    return native_default.randomUUID();
  }
  return _v4(options, buf, offset);
}
var v4_default = v4;

// node_modules/@motiadev/stream-client/dist/index.js
var StreamSubscription = class {
  constructor(sub, state) {
    this.customEventListeners = /* @__PURE__ */ new Map();
    this.closeListeners = /* @__PURE__ */ new Set();
    this.onChangeListeners = /* @__PURE__ */ new Set();
    this.sub = sub;
    this.state = state;
  }
  onEventReceived(event) {
    const customEventListeners = this.customEventListeners.get(event.type);
    if (customEventListeners) {
      const eventData = event.data;
      customEventListeners.forEach((listener) => listener(eventData));
    }
  }
  /**
  * Add a custom event listener. This listener will be called whenever the custom event is received.
  */
  onEvent(type, listener) {
    const listeners = this.customEventListeners.get(type) || [];
    this.customEventListeners.set(type, [...listeners, listener]);
  }
  /**
  * Remove a custom event listener.
  */
  offEvent(type, listener) {
    const listeners = this.customEventListeners.get(type) || [];
    this.customEventListeners.set(type, listeners.filter((l) => l !== listener));
  }
  onClose(listener) {
    this.closeListeners.add(listener);
  }
  close() {
    this.closeListeners.forEach((listener) => listener());
    this.closeListeners.clear();
  }
  /**
  * Add a change listener. This listener will be called whenever the state of the group changes.
  */
  addChangeListener(listener) {
    this.onChangeListeners.add(listener);
  }
  /**
  * Remove a change listener.
  */
  removeChangeListener(listener) {
    this.onChangeListeners.delete(listener);
  }
  /**
  * Get the current state of the group.
  */
  getState() {
    return this.state;
  }
  setState(state) {
    this.state = state;
    this.onChangeListeners.forEach((listener) => listener(state));
  }
};
var StreamGroupSubscription = class extends StreamSubscription {
  constructor(sub, sortKey) {
    super(sub, []);
    this.sortKey = sortKey;
    this.lastTimestamp = 0;
    this.lastTimestampMap = /* @__PURE__ */ new Map();
  }
  sort(state) {
    const sortKey = this.sortKey;
    if (sortKey) return state.sort((a, b) => {
      const aValue = a[sortKey];
      const bValue = b[sortKey];
      if (aValue && bValue) return aValue.toString().localeCompare(bValue.toString());
      return 0;
    });
    return state;
  }
  setState(state) {
    super.setState(this.sort(state));
  }
  listener(message) {
    if (message.event.type === "sync") {
      if (message.timestamp < this.lastTimestamp) return;
      this.lastTimestampMap = /* @__PURE__ */ new Map();
      this.lastTimestamp = message.timestamp;
      this.setState(message.event.data);
    } else if (message.event.type === "create") {
      const id = message.event.data.id;
      const state = this.getState();
      if (!state.find((item) => item.id === id)) this.setState([...state, message.event.data]);
    } else if (message.event.type === "update") {
      const messageData = message.event.data;
      const messageDataId = messageData.id;
      const state = this.getState();
      const currentItemTimestamp = this.lastTimestampMap.get(messageDataId);
      if (currentItemTimestamp && currentItemTimestamp >= message.timestamp) return;
      this.lastTimestamp = message.timestamp;
      this.lastTimestampMap.set(messageDataId, message.timestamp);
      this.setState(state.map((item) => item.id === messageDataId ? messageData : item));
    } else if (message.event.type === "delete") {
      const messageDataId = message.event.data.id;
      const state = this.getState();
      this.lastTimestamp = message.timestamp;
      this.lastTimestampMap.set(messageDataId, message.timestamp);
      this.setState(state.filter((item) => item.id !== messageDataId));
    } else if (message.event.type === "event") this.onEventReceived(message.event.event);
  }
};
var StreamItemSubscription = class extends StreamSubscription {
  constructor(sub) {
    super(sub, null);
    this.lastEventTimestamp = 0;
  }
  listener(message) {
    if (message.timestamp <= this.lastEventTimestamp) return;
    this.lastEventTimestamp = message.timestamp;
    if (message.event.type === "sync" || message.event.type === "create" || message.event.type === "update") this.setState(message.event.data);
    else if (message.event.type === "delete") this.setState(null);
    else if (message.event.type === "event") this.onEventReceived(message.event.event);
  }
};
var Stream = class {
  constructor(adapterFactory) {
    this.adapterFactory = adapterFactory;
    this.listeners = {};
    this.ws = this.createSocket();
  }
  createSocket() {
    this.ws = this.adapterFactory();
    this.ws.onMessage((message) => this.messageListener(message));
    this.ws.onOpen(() => this.onSocketOpen());
    this.ws.onClose(() => this.onSocketClose());
    return this.ws;
  }
  /**
  * Subscribe to an item in a stream.
  *
  * @argument streamName - The name of the stream to subscribe to.
  * @argument groupId - The id of the group to subscribe to.
  * @argument id - The id of the item to subscribe to.
  */
  subscribeItem(streamName, groupId, id) {
    const subscription = new StreamItemSubscription({
      streamName,
      groupId,
      id,
      subscriptionId: v4_default()
    });
    this.subscribe(subscription);
    return subscription;
  }
  /**
  * Subscribe to a group in a stream.
  *
  * @argument streamName - The name of the stream to subscribe to.
  * @argument groupId - The id of the group to subscribe to.
  */
  subscribeGroup(streamName, groupId, sortKey) {
    const subscription = new StreamGroupSubscription({
      streamName,
      groupId,
      subscriptionId: v4_default()
    }, sortKey);
    this.subscribe(subscription);
    return subscription;
  }
  close() {
    this.listeners = {};
    this.ws.close();
  }
  onSocketClose() {
    setTimeout(() => this.createSocket(), 2e3);
  }
  onSocketOpen() {
    Object.values(this.listeners).forEach((listeners) => {
      listeners.forEach((subscription) => this.join(subscription));
    });
  }
  messageListener(event) {
    const message = JSON.parse(event);
    const room = this.roomName(message);
    this.listeners[room]?.forEach((listener) => listener.listener(message));
    if (message.id && message.event.type !== "sync") {
      const groupRoom = this.roomName({
        streamName: message.streamName,
        groupId: message.groupId
      });
      this.listeners[groupRoom]?.forEach((listener) => listener.listener(message));
    }
  }
  subscribe(subscription) {
    const room = this.roomName(subscription.sub);
    if (!this.listeners[room]) this.listeners[room] = /* @__PURE__ */ new Set();
    this.listeners[room].add(subscription);
    this.join(subscription);
    subscription.onClose(() => {
      this.listeners[room]?.delete(subscription);
      this.leave(subscription);
    });
  }
  join(subscription) {
    if (this.ws.isOpen()) this.ws.send(JSON.stringify({
      type: "join",
      data: subscription.sub
    }));
  }
  leave(subscription) {
    if (this.ws.isOpen()) this.ws.send(JSON.stringify({
      type: "leave",
      data: subscription.sub
    }));
  }
  roomName(message) {
    return message.id ? `${message.streamName}:group:${message.groupId}:item:${message.id}` : `${message.streamName}:group:${message.groupId}`;
  }
};

// node_modules/@motiadev/stream-client-browser/dist/index.js
var StreamSocketAdapter = class {
  constructor(address, protocols) {
    this.address = address;
    this.onMessageListeners = [];
    this.onOpenListeners = [];
    this.onCloseListeners = [];
    this.ws = new WebSocket(this.address, protocols);
  }
  connect() {
  }
  send(message) {
    this.ws.send(message);
  }
  onMessage(callback) {
    const listener = (message) => callback(message.data);
    this.ws.addEventListener("message", listener);
    this.onMessageListeners.push(listener);
  }
  onOpen(callback) {
    this.ws.addEventListener("open", callback);
    this.onOpenListeners.push(callback);
  }
  onClose(callback) {
    this.ws.addEventListener("close", callback);
    this.onCloseListeners.push(callback);
  }
  close() {
    this.ws.close();
    this.onMessageListeners.forEach((listener) => this.ws.removeEventListener("message", listener));
    this.onOpenListeners.forEach((listener) => this.ws.removeEventListener("open", listener));
    this.onCloseListeners.forEach((listener) => this.ws.removeEventListener("close", listener));
  }
  isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }
};
var Stream2 = class extends Stream {
  constructor(address, options) {
    super(() => new StreamSocketAdapter(address, options?.protocols));
  }
};
export {
  Stream2 as Stream,
  StreamGroupSubscription,
  StreamItemSubscription,
  StreamSubscription
};
