import { MotiaStreamProvider } from '@motiadev/stream-client-react'
import { Chat } from './Chat.jsx'
import { OpenAi } from './OpenAi.jsx'

// The stream socket of the server that served this page (Vite's dev server proxies it to Django).
const address = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/motia/streams/`
const channelId = new URLSearchParams(window.location.search).get('room') || 'room-1'

export function App() {
  return (
    <MotiaStreamProvider address={address}>
      <h1>motia_django in React</h1>
      <main>
        <Chat channelId={channelId} />
        <OpenAi />
      </main>
    </MotiaStreamProvider>
  )
}
