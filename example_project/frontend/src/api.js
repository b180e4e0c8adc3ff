// The example's API steps (example_project/steps/chat and open_ai), on the page's own origin.
async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`)
  return response.json()
}

export const postMessage = (channelId, message) => call('POST', '/chat-messages', { channel_id: channelId, message })
export const editMessage = (channelId, id, message) => call('PUT', `/chat-messages/${channelId}/${id}`, { message })
export const deleteMessage = (channelId, id) => call('DELETE', `/chat-messages/${channelId}/${id}`)
export const sendTyping = (channelId, userId) => call('POST', `/chat-messages/${channelId}/typing`, { user_id: userId })
// The reply's stream item: { streamName: 'openai', groupId: <trace id>, id: 'message' }
export const askOpenAi = (message) => call('POST', '/open-ai', { message }).then((body) => body.__motia)
