import { useRef, useState } from 'react'
import { useStreamEventHandler, useStreamGroup } from '@motiadev/stream-client-react'
import { deleteMessage, editMessage, postMessage, sendTyping } from './api.js'

// Who this tab is, for typing events (the example's POST /chat-messages signs every message as one user).
const me = `user-${Math.random().toString(36).slice(2, 8)}`

export function Chat({ channelId }) {
  // The room's messages: synced on join, then every create, update and delete live.
  const { data: messages, event } = useStreamGroup({ streamName: 'chatMessage', groupId: channelId })
  // Who is here: chatPresence tracks chatMessage, one item per member of the room.
  const { data: members } = useStreamGroup({ streamName: 'chatPresence', groupId: channelId })
  const [typing, setTyping] = useState({})
  const timers = useRef({})

  // Ephemeral "typing" events sent to the room (nothing stored), shown for 2 s.
  useStreamEventHandler({
    event,
    type: 'typing',
    listener: ({ user_id }) => {
      if (user_id === me) return
      clearTimeout(timers.current[user_id])
      setTyping((t) => ({ ...t, [user_id]: true }))
      timers.current[user_id] = setTimeout(() => setTyping(({ [user_id]: _, ...t }) => t), 2000)
    },
  }, [])

  const [text, setText] = useState('')
  const lastTyping = useRef(0)
  const onChange = (e) => {
    setText(e.target.value)
    if (Date.now() - lastTyping.current > 1000) {
      lastTyping.current = Date.now()
      sendTyping(channelId, me)
    }
  }
  const onSubmit = async (e) => {
    e.preventDefault()
    const sent = text
    if (!sent.trim()) return
    setText('') // now, not after the POST: what is typed while it is in flight is the next message
    try {
      await postMessage(channelId, sent)
    } catch (err) {
      setText((now) => now || sent) // not sent: give it back, unless a new one was begun
      throw err
    }
  }

  const typists = Object.keys(typing)
  return (
    <section className="chat">
      <h2>Chat: {channelId}</h2>
      <p data-testid="presence">
        {members.length} here: {members.map((m) => <span key={m.id} className="member">{m.userId}</span>)}
      </p>
      <ul data-testid="messages">
        {messages.map((m) => <Message key={m.id} channelId={channelId} message={m} />)}
      </ul>
      <p data-testid="typing" className="typing">{typists.length ? `${typists.join(', ')} typing…` : ''}</p>
      <form onSubmit={onSubmit}>
        <input aria-label="Message" value={text} onChange={onChange} placeholder={`Message as ${me}`} />
        <button type="submit">Send</button>
      </form>
    </section>
  )
}

function Message({ channelId, message }) {
  const [draft, setDraft] = useState(null)
  const save = async (e) => {
    e.preventDefault()
    await editMessage(channelId, message.id, draft)
    setDraft(null)
  }
  return (
    <li data-id={message.id}>
      {draft === null ? (
        <>
          <span className="text">{message.message}</span>
          <button onClick={() => setDraft(message.message)}>Edit</button>
          <button onClick={() => deleteMessage(channelId, message.id)}>Delete</button>
        </>
      ) : (
        <form onSubmit={save}>
          <input aria-label="Edit message" value={draft} onChange={(e) => setDraft(e.target.value)} />
          <button type="submit">Save</button>
        </form>
      )}
    </li>
  )
}
